"""DPO's loss, log-probs and rewards on a fixed batch equal TRL's DPOTrainer (the oracle) for the same model and
the same token ids (ftcore's template encodes the pairs; TRL gets prompt_ids / chosen_ids / rejected_ids)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import torch

from ftcore.config import config_from_dict

PAIRS = [
    {"prompt": "What is 2 + 2?", "chosen": "It is 4.", "rejected": "Five, probably."},
    {"prompt": "Name a colour.", "chosen": "Blue", "rejected": "I will not answer that question."},
    {"prompt": "Say hi.", "chosen": "Hi there! Nice to meet you.", "rejected": "No."},
]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from ftcore.data.pairs import normalize_pair
    from ftcore.data.preference import encode_pair
    from ftcore.training.stages.dpo import DPORecipe

    tmp = tmp_path_factory.mktemp("dpo-oracle")
    cfg = config_from_dict({"model": {"name": "ftcore-tiny-qwen2", "dtype": "fp32"}, "train": {"stage": "dpo"},
                            "output": {"dir": str(tmp / "out")}}, base_dir=str(tmp))
    recipe = DPORecipe(cfg)
    recipe.setup_distributed()
    recipe.load_model()
    recipe.build_template()
    rows = [encode_pair(recipe.template, normalize_pair(p)["messages"]) for p in PAIRS]
    return recipe, rows


def _ours(model: Any, rows: list[dict[str, Any]], ref: Any, opts: Any) -> tuple[torch.Tensor, dict[str, Any]]:
    from ftcore.training.stages.dpo import dpo_loss
    from ftcore.training.stages.preference import PairCollator, pair_logps

    batch = PairCollator(pad_token_id=0, padding_free=True)(rows)
    n = len(rows)
    with torch.no_grad():
        policy = pair_logps(model, batch, 2 * n, loss_only_head=True)
        loss, metrics = dpo_loss(policy, ref.logps(model, batch, n, True), n, opts)
    return loss, {k: v.mean().item() for k, v in metrics.items()}


def _trl(model: Any, ref_model: Any, tokenizer: Any, rows: list[dict[str, Any]], opts: Any, out: Path,
         peft_config: Any = None) -> tuple[float, dict[str, float]]:
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer
    from trl.trainer.dpo_trainer import DataCollatorForPreference

    args = DPOConfig(output_dir=str(out), beta=opts.beta, loss_type=[opts.loss_type], report_to=[],
                     label_smoothing=opts.label_smoothing,
                     per_device_train_batch_size=len(rows), use_cpu=True, bf16=False, fp16=False,
                     max_length=None)
    adapter = None
    if peft_config is not None:  # TRL wraps the base itself (a PeftModel given in would get a "ref" adapter copy)
        from peft import get_peft_model_state_dict

        adapter, model = get_peft_model_state_dict(model), model.get_base_model()
    trainer = DPOTrainer(model=model, ref_model=ref_model, args=args, processing_class=tokenizer,
                         train_dataset=Dataset.from_list(PAIRS), peft_config=peft_config)
    if adapter is not None:
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(trainer.model, adapter)
    batch = DataCollatorForPreference(pad_token_id=tokenizer.pad_token_id or 0)(
        [{k: r[k] for k in ("prompt_ids", "chosen_ids", "rejected_ids")} for r in rows])
    trainer.model.eval()
    with torch.no_grad():
        loss = trainer._compute_loss(trainer.model, batch, return_outputs=False)
    return float(loss), {k: v[-1] for k, v in trainer._metrics["eval"].items()}  # eval mode: model.eval()


CASES = [("sigmoid", False), ("sigmoid", True), ("ipo", False), ("ipo", True), ("hinge", False),
         ("robust", True), ("bco_pair", False), ("apo_zero", True)]


@pytest.mark.parametrize(("loss_type", "lora"), CASES, ids=[f"{t}-{'lora' if lo else 'full'}" for t, lo in CASES])
def test_dpo_equals_trl(loaded: Any, tmp_path: Path, loss_type: str, lora: bool) -> None:
    from peft import LoraConfig, get_peft_model

    from ftcore.config.stages import DPOOptions
    from ftcore.training.stages.preference import ReferenceModel

    recipe, rows = loaded
    opts = DPOOptions(beta=0.3, loss_type=loss_type, label_smoothing=0.1 if loss_type == "robust" else 0.0)
    torch.manual_seed(0)
    base = copy.deepcopy(recipe.model).eval()
    if lora:
        lora_config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], lora_dropout=0.0)
        model = get_peft_model(base, copy.deepcopy(lora_config))
        for name, p in model.named_parameters():
            if "lora_B" in name:
                torch.nn.init.normal_(p, std=0.5)  # a trained adapter: policy and reference differ
        ref_model, ref = None, ReferenceModel("adapter")
    else:
        lora_config = None
        ref_model = copy.deepcopy(base)
        model = base
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p) * 0.02)  # the policy moved away from the reference
        ref = ReferenceModel("copy", ref_model)
    model.eval()
    loss, mine = _ours(model, rows, ref, opts)
    trl_loss, theirs = _trl(copy.deepcopy(model), copy.deepcopy(ref_model) if ref_model is not None else None,
                            recipe.tokenizer, rows, opts, tmp_path, peft_config=lora_config)
    assert loss.item() == pytest.approx(trl_loss, abs=1e-5)
    for key in ("logps/chosen", "logps/rejected", "rewards/chosen", "rewards/rejected", "rewards/margins",
                "rewards/accuracies"):
        assert mine[key] == pytest.approx(theirs[key], abs=1e-5), key
    assert abs(mine["rewards/margins"]) > 1e-4  # a meaningful comparison: policy ≠ reference
