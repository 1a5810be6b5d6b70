"""The KTO / reward-model / ORPO / CPO / SimPO losses of ftcore.training.stages.objectives equal TRL's on the
same model and token ids (TRL 1.16 as the oracle, to 1e-5)."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest
import torch
import trl  # a test dependency (pyproject [test]): the oracle

from ftcore.training.stages import objectives as obj

PROMPTS = [[9707, 11, 1246, 525], [3838, 374, 220, 17, 10, 17, 30], [35127, 752], [10234, 1079, 279, 12884]]
ANSWERS = [[13048, 0, 151645], [19, 13, 151645], [9454, 11, 1588, 13, 151645], [16, 151645]]
LABELS = [True, False, True, False]


def padded(rows: list[list[int]], labels: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    width = max(map(len, rows))
    ids = torch.tensor([r + [0] * (width - len(r)) for r in rows])
    lab = torch.tensor([r + [-100] * (width - len(r)) for r in labels])
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
    return ids, lab, mask


def logps(model, prompts, answers) -> torch.Tensor:
    """Summed answer log-probs, the way ftcore encodes: prompt tokens labelled -100, answer tokens kept."""
    rows = [p + a for p, a in zip(prompts, answers, strict=True)]
    labels = [[-100] * len(p) + a for p, a in zip(prompts, answers, strict=True)]
    ids, lab, mask = padded(rows, labels)
    return obj.sequence_logps(model(input_ids=ids, attention_mask=mask).logits, lab)


def causal_lm(tiny_model_dir, lora: bool):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir("qwen2"), dtype=torch.float32)
    if not lora:  # a reference that differs from the policy, so the log-ratios are not all zero
        ref = copy.deepcopy(model)
        with torch.no_grad():
            for p in ref.parameters():
                p.add_(torch.randn_like(p) * 0.02)
        return model, ref
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"])
    return get_peft_model(model, config), None  # the reference is the base with the adapter disabled


def train_adapter(model) -> None:
    """Move the default adapter away from its zero start, as training would (TRL's copy of the starting adapter,
    its "ref" adapter, stays at zero: the base model, which is ftcore's reference with the adapter disabled)."""
    torch.manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B.default" in name:
                p.add_(torch.randn_like(p) * 0.05)


class PreTokenizedKTO(trl.KTOTrainer):
    """TRL's KTOTrainer fed ftcore's token ids: its dataset preparation (tokenizing text) is skipped; the
    mismatched KL answers are TRL's rotation by one within the batch."""

    def _prepare_dataset(self, dataset, *args, **kwargs):
        return dataset


@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
def test_kto_equals_trl(tiny_model_dir, tmp_path, lora):
    from datasets import Dataset
    from transformers import AutoTokenizer

    model, ref = causal_lm(tiny_model_dir, lora)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir("qwen2"))
    kl_answers = [ANSWERS[-1], *ANSWERS[:-1]]
    rows = [
        {"prompt_ids": p, "completion_ids": a, "KL_completion_ids": k, "label": y}
        for p, a, k, y in zip(PROMPTS, ANSWERS, kl_answers, LABELS, strict=True)
    ]
    args = trl.KTOConfig(
        output_dir=str(tmp_path),
        per_device_train_batch_size=4,
        beta=0.2,
        desirable_weight=1.3,
        undesirable_weight=0.7,
        report_to=[],
        use_cpu=True,
        bf16=False,  # TRL defaults to bf16 autocast, which its reference model would run under
        train_sampling_strategy="sequential",
    )
    own_ref = copy.deepcopy(ref)  # TRL patches its reference model's forward (fused LM head)
    trainer = PreTokenizedKTO(
        model=model, ref_model=ref, args=args, train_dataset=Dataset.from_list(rows), processing_class=tok
    )
    batch = next(iter(trainer.get_train_dataloader()))
    trainer.model.train()  # TRL logs under "train" only in training mode (the tiny models have no dropout)
    if lora:
        train_adapter(trainer.model)
    trl_loss = trainer.compute_loss(trainer.model, batch)
    trl_metrics = {k: v[-1] for k, v in trainer._metrics["train"].items()}

    # ftcore's path: the KTO collator's padding-free rows, pair_logps (LM head on answer tokens only), KTOTrainer
    from ftcore.config.stages import KTOOptions
    from ftcore.training.stages.kto import KTOCollator, KTOTrainer
    from ftcore.training.stages.preference import ReferenceModel

    features = [{"prompt_ids": r["prompt_ids"], "completion_ids": r["completion_ids"],
                 "kl_ids": r["KL_completion_ids"], "label": r["label"]} for r in rows]
    ours_batch = KTOCollator(tok.pad_token_id)(features)
    options = KTOOptions.model_validate({"beta": 0.2, "desirable_weight": 1.3, "undesirable_weight": 0.7})
    reference = ReferenceModel("adapter") if lora else ReferenceModel("model", own_ref)
    trainer_self = SimpleNamespace(stage_options=options, reference=reference, loss_only_head=True)
    loss, metrics = KTOTrainer.pair_loss(trainer_self, trainer.model, ours_batch)
    assert loss.item() == pytest.approx(trl_loss.item(), abs=1e-5)
    for name in ("rewards/chosen", "rewards/rejected", "logps/chosen", "logps/rejected", "kl"):
        assert metrics[name].mean().item() == pytest.approx(trl_metrics[name], abs=1e-5), name

    # the loss function alone, on padded rows
    policy = trainer.model
    seq = logps(policy, PROMPTS, ANSWERS)
    with torch.no_grad():
        kl_logps = logps(policy, PROMPTS, kl_answers)
        if lora:
            with policy.disable_adapter():
                ref_seq, ref_kl = logps(policy, PROMPTS, ANSWERS), logps(policy, PROMPTS, kl_answers)
        else:
            ref_seq, ref_kl = logps(ref, PROMPTS, ANSWERS), logps(ref, PROMPTS, kl_answers)
    y = torch.tensor(LABELS)
    ours = obj.kto_loss(
        seq[y],
        seq[~y],
        ref_seq[y],
        ref_seq[~y],
        obj.kto_kl(kl_logps, ref_kl),
        beta=0.2,
        desirable_weight=1.3,
        undesirable_weight=0.7,
    )
    assert ours.loss.item() == pytest.approx(trl_loss.item(), abs=1e-5)
    assert ours.metrics()["rewards/chosen"] == pytest.approx(trl_metrics["rewards/chosen"], abs=1e-5)
    assert ours.metrics()["rewards/rejected"] == pytest.approx(trl_metrics["rewards/rejected"], abs=1e-5)
    assert seq[y].mean().item() == pytest.approx(trl_metrics["logps/chosen"], abs=1e-4)
    assert obj.kto_kl(kl_logps, ref_kl).item() == pytest.approx(trl_metrics["kl"], abs=1e-5)
    assert abs(ours.metrics()["rewards/chosen"]) > 1e-3  # a real comparison, not 0 == 0


def test_reward_model_equals_trl(tiny_model_dir, tmp_path):
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(
        tiny_model_dir("qwen2"), num_labels=1, dtype=torch.float32
    )
    model = get_peft_model(
        model,
        LoraConfig(
            r=4,
            target_modules=["q_proj", "v_proj"],
            modules_to_save=["score"],
            task_type="SEQ_CLS",
            init_lora_weights=False,
        ),
    )
    tok = AutoTokenizer.from_pretrained(tiny_model_dir("qwen2"))
    chosen = [p + a for p, a in zip(PROMPTS, ANSWERS, strict=True)]
    rejected = [p + a[::-1] for p, a in zip(PROMPTS, ANSWERS[::-1], strict=True)]
    margins = [0.5, 0.0, 1.0, 0.25]
    rows = [
        {"chosen_ids": c, "rejected_ids": r, "margin": m}
        for c, r, m in zip(chosen, rejected, margins, strict=True)
    ]
    args = trl.RewardConfig(
        output_dir=str(tmp_path),
        per_device_train_batch_size=4,
        report_to=[],
        use_cpu=True,
        bf16=False,  # TRL defaults to bf16 autocast, which its reference model would run under
        center_rewards_coefficient=0.01,
    )
    trainer = trl.RewardTrainer(
        model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tok
    )
    batch = next(iter(trainer.get_train_dataloader()))
    trainer.model.train()  # TRL logs under "train" only in training mode (the tiny models have no dropout)
    trl_loss = trainer.compute_loss(trainer.model, dict(batch))
    trl_metrics = {k: v[-1] for k, v in trainer._metrics["train"].items()}

    def rewards(rows: list[list[int]]) -> torch.Tensor:
        ids, _, mask = padded(rows, rows)
        ids = torch.where(mask.bool(), ids, tok.pad_token_id)
        return trainer.model(input_ids=ids, attention_mask=mask).logits.squeeze(-1)

    ours = obj.reward_loss(
        rewards(chosen), rewards(rejected), margin=torch.tensor(margins), center_rewards_coefficient=0.01
    )
    assert ours.loss.item() == pytest.approx(trl_loss.item(), abs=1e-5)
    assert ours.metrics()["rewards/margins"] == pytest.approx(trl_metrics["margin"], abs=1e-5)
    assert ours.metrics()["rewards/accuracies"] == pytest.approx(trl_metrics["accuracy"], abs=1e-6)
    assert obj.reward_loss(torch.tensor([2.0]), torch.tensor([0.0])).loss.item() == pytest.approx(
        0.126928, abs=1e-6
    )

    # ftcore's path: the pair collator's padded rows (chosen first) through RewardTrainer, a constant [rm] margin
    from ftcore.config.stages import RewardOptions
    from ftcore.training.stages.preference import PairCollator
    from ftcore.training.stages.rm import RewardTrainer

    features = [{"prompt_ids": p, "chosen_ids": a, "rejected_ids": b[::-1]}
                for p, a, b in zip(PROMPTS, ANSWERS, ANSWERS[::-1], strict=True)]
    pair_batch = PairCollator(tok.pad_token_id, padding_free=False)(features)
    options = RewardOptions.model_validate({"center_rewards_coefficient": 0.01, "margin": 0.5})
    loss, metrics = RewardTrainer.pair_loss(SimpleNamespace(stage_options=options), trainer.model, pair_batch)
    want = obj.reward_loss(rewards(chosen), rewards(rejected), margin=0.5, center_rewards_coefficient=0.01)
    assert loss.item() == pytest.approx(want.loss.item(), abs=1e-5)
    assert metrics["rewards/margins"].mean().item() == pytest.approx(trl_metrics["margin"], abs=1e-5)


# ORPO, CPO and SimPO: TRL keeps them in trl.experimental; their loss functions are compared on the same log-probs


def stub(**values):
    return SimpleNamespace(accelerator=SimpleNamespace(device="cpu"), **values)


def test_sequence_logps_and_nll_equal_trl():
    from trl.experimental.cpo.cpo_trainer import CPOTrainer

    torch.manual_seed(0)
    logits = torch.randn(3, 7, 11)
    labels = torch.randint(0, 11, (3, 7))
    labels[:, :3] = -100
    labels[2, 5:] = -100
    for average in (False, True):
        want = CPOTrainer.get_batch_logps(logits, labels.clone(), average_log_prob=average)
        torch.testing.assert_close(
            obj.sequence_logps(logits, labels, average=average), want, atol=1e-6, rtol=0
        )
    want = torch.nn.CrossEntropyLoss()(logits[:, :-1].reshape(-1, 11), labels[:, 1:].reshape(-1))
    torch.testing.assert_close(obj.label_nll(logits, labels), want, atol=1e-6, rtol=0)


def test_orpo_equals_trl():
    from trl.experimental.orpo.orpo_trainer import ORPOTrainer

    chosen, rejected = torch.tensor([-0.3, -1.2, -2.5, -0.01]), torch.tensor([-0.9, -0.4, -3.0, -5.0])
    losses, c, r, _, _ = ORPOTrainer.odds_ratio_loss(stub(beta=0.1), chosen, rejected)
    ours = obj.orpo_loss(chosen, rejected, torch.tensor(1.5), beta=0.1)
    torch.testing.assert_close(ours.loss, 1.5 - losses.mean(), atol=1e-6, rtol=0)
    torch.testing.assert_close((ours.chosen_rewards, ours.rejected_rewards), (c, r))


@pytest.mark.parametrize("loss_type", obj.CPO_LOSS_TYPES)
@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_cpo_and_simpo_equal_trl(loss_type, alpha):
    from trl.experimental.cpo.cpo_trainer import CPOTrainer

    chosen, rejected = torch.tensor([-0.3, -1.2, -2.5, -0.7]), torch.tensor([-0.9, -0.4, -3.0, -5.0])
    trl_self = stub(beta=2.0, alpha=0.0, loss_type=loss_type, simpo_gamma=0.7, label_smoothing=0.1)
    losses, c, r = CPOTrainer.cpo_loss(trl_self, chosen, rejected)
    nll = torch.tensor(0.8)
    ours = obj.cpo_loss(
        chosen,
        rejected,
        nll,
        beta=2.0,
        loss_type=loss_type,
        cpo_alpha=alpha,
        simpo_gamma=0.7,
        label_smoothing=0.1,
    )
    torch.testing.assert_close(ours.loss, losses.mean() + alpha * nll, atol=1e-6, rtol=0)
    torch.testing.assert_close((ours.chosen_rewards, ours.rejected_rewards), (c, r))
    with pytest.raises(ValueError, match="unknown CPO loss_type"):
        obj.cpo_loss(chosen, rejected, nll, beta=1.0, loss_type="nope")
