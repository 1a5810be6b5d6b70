"""MFU: the FLOPs formula against a hand count, the batch counts, the device peak, and the figures in the progress
bar, metrics.jsonl and result.json."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from ftcore.models.peak import peak_flops, write_peak_cache
from ftcore.training.flops import FlopsModel, batch_counts, mfu

# hidden 64, 2 layers, 4 heads of 16, 2 kv heads, MLP 128, vocab 1000
CONFIG = SimpleNamespace(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         head_dim=16, intermediate_size=128, vocab_size=1000)


def test_formula_matches_a_hand_count() -> None:
    lora = FlopsModel.from_config(CONFIG, adapter_weights=1000)
    # per layer: q 64·64 + k, v 64·32 each + o 64·64 = 12,288; MLP 3·64·128 = 24,576 → 36,864; two layers 73,728
    assert lora.layer_weights == 73_728 and lora.first_qkv_weights == 8_192
    assert lora.head_weights == 64_000 and lora.attention_width == 2 * 4 * 16
    # one causal row of 10 tokens (context 1 + 2 + … + 10 = 55), 4 carrying loss
    layers = 4 * 73_728 * 10 - 2 * 8_192 * 10  # frozen: forward + input gradient; layer 0's q/k/v forward only
    adapters = 6 * 1000 * 10
    attention = 12 * 128 * 55
    head = 4 * 64_000 * 4  # frozen head, label positions only
    assert lora.step_flops(10, 4, 55) == layers + adapters + attention + head == 3_953_760
    full = FlopsModel.from_config(CONFIG, adapter_weights=1000, base_trained=True)
    assert full.adapter_weights == 0 and full.head_trained
    assert full.step_flops(10, 4, 55) == 6 * 73_728 * 10 + attention + 6 * 64_000 * 4
    full_head = FlopsModel.from_config(CONFIG, base_trained=True, loss_only_head=False)
    assert full_head.step_flops(10, 4, 55) == 6 * 73_728 * 10 + attention + 6 * 64_000 * 10
    assert lora.per_token(10, 0.4) == pytest.approx(3_953_760 / 10)


def test_mixture_of_experts_counts_the_routed_experts() -> None:
    moe = SimpleNamespace(**{**vars(CONFIG), "num_experts": 8, "num_experts_per_tok": 2,
                             "moe_intermediate_size": 32, "shared_expert_intermediate_size": 64})
    f = FlopsModel.from_config(moe)
    assert f.layer_weights == 2 * (12_288 + 2 * 3 * 64 * 32 + 3 * 64 * 64 + 64 * 8)


def test_batch_counts_packed_padded_and_plain() -> None:
    packed = {"input_ids": torch.ones(1, 6, dtype=torch.long), "position_ids": torch.tensor([[0, 1, 2, 0, 1, 0]]),
              "labels": torch.tensor([[-100, 5, 5, -100, 5, -100]])}
    assert batch_counts(packed) == (5, 3, (1 + 2 + 3) + (1 + 2))  # the last run (no label): padding
    padded = {"input_ids": torch.ones(2, 3, dtype=torch.long), "attention_mask": torch.tensor([[1, 1, 1], [1, 1, 0]]),
              "labels": torch.tensor([[-100, 1, 1], [-100, 1, -100]])}
    assert batch_counts(padded) == (5, 3, 6 + 3)
    plain = {"input_ids": torch.ones(2, 4, dtype=torch.long), "labels": torch.full((2, 4), 1)}
    assert batch_counts(plain) == (8, 6, 2 * 10)
    assert mfu(2e9, 2.0, 1e10) == pytest.approx(0.1) and mfu(1.0, 1.0, None) is None


def test_from_model_sees_lora_and_full() -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoConfig, AutoModelForCausalLM

    from ftcore.testing import TINY_CONFIGS

    config = AutoConfig.for_model("qwen2", vocab_size=512, pad_token_id=0, **TINY_CONFIGS["qwen2"])
    model = AutoModelForCausalLM.from_config(config)
    full = FlopsModel.from_model(model)
    assert full is not None and full.base_trained and full.head_trained and full.adapter_weights == 0
    peft = get_peft_model(model, LoraConfig(r=2, target_modules=["q_proj", "v_proj"]))
    lora = FlopsModel.from_model(peft)
    trained = sum(p.numel() for p in peft.parameters() if p.requires_grad)
    assert lora is not None and not lora.base_trained and not lora.head_trained and lora.adapter_weights == trained
    assert lora.layer_weights == full.layer_weights


def test_peak_override_cache_and_data_sheet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FTCORE_CACHE", str(tmp_path))
    assert peak_flops("bf16", override=3e12) == (3e12, "train.peak_flops")
    assert peak_flops("fp32", name="cpu:Some CPU:2t") == (None, "unknown")
    write_peak_cache("cpu:Some CPU:2t", {"fp32": 1.5e11, "bf16": 4e11})
    assert peak_flops("fp32", name="cpu:Some CPU:2t")[0] == 1.5e11
    assert peak_flops("fp16", name="cpu:Some CPU:2t")[0] == 4e11  # half precision: the bf16 figure
    assert peak_flops("bf16", name="NVIDIA H100 80GB HBM3") == (989e12, "data sheet (H100)")
    assert peak_flops("fp32", name="NVIDIA H100 PCIe")[0] == 51e12
    assert peak_flops("bf16", name="NVIDIA A10G")[0] == 70e12  # the longest matching name wins (not "A10")


def test_progress_bar_shows_tokens_per_second_and_mfu() -> None:
    from ftcore.training.callbacks import ProgressBarCallback

    class Bar:
        postfix: dict = {}

        def update(self, n: int) -> None: ...

        def set_postfix(self, postfix: dict, refresh: bool = False) -> None:
            Bar.postfix = dict(postfix)

    trainer = SimpleNamespace(train_start_time=1.0, throughput=lambda: {"tokens_per_second": 850.4, "mfu": 0.4321})
    cb = ProgressBarCallback(trainer)
    cb.bar = Bar()
    cb.on_step_end(None, SimpleNamespace(global_step=1), None)
    assert Bar.postfix == {"tok/s": "850", "mfu": "43.2%"}


def test_a_run_reports_tokens_per_second_mfu_and_its_time_to_first_step(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from ftcore.config import config_from_dict
    from ftcore.training import train

    monkeypatch.setenv("FTCORE_PROFILE", "1")

    rows = [{"query": f"question {i}?", "response": f"answer {i}."} for i in range(12)]
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = config_from_dict({
        "model": {"name": "ftcore-tiny-qwen2"}, "template": {"max_length": 64},
        "data": {"datasets": [{"path": str(tmp_path / "rows.jsonl")}]}, "tuner": {"method": "lora"},
        "train": {"max_steps": 2, "batch_size": 2, "grad_accum": 1, "logging_steps": 1, "report_to": [],
                  "dataloader_num_workers": 0, "peak_flops": 1e9},
        "output": {"dir": str(tmp_path / "out")}}, base_dir=str(tmp_path))
    result = train(cfg)
    records = [json.loads(x) for x in (Path(result.output_dir) / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in records if "loss" in r]
    assert steps and all(r["tokens_per_second"] > 0 and 0 < r["mfu"] < 1 for r in steps)
    saved = json.loads((Path(result.output_dir) / "result.json").read_text())["metrics"]
    assert saved["tokens_per_second"] > 0 and 0 < saved["mfu"] < 1
    err = capsys.readouterr().err
    assert err.count("time to first step:") == 1
    profile = err[err.index("time to first step:"):].splitlines()[:12]
    names = [line.strip().rsplit(" ", 2)[0].strip() for line in profile[1:]]
    assert names == ["imports", "setup_distributed", "load_model", "build_template", "prepare_data", "packing",
                     "apply_tuner", "plan_output", "build_trainer", "train: trainer set-up", "train: first step"]
    assert all(float(line.split()[-2]) >= 0 for line in profile[1:12])


def test_startup_profile_renders_nested_parts() -> None:
    from ftcore.training.profile import StartupProfile

    profile = StartupProfile(enabled=False)
    with profile.part("prepare_data"):
        with profile.part("packing"):
            pass
    profile.add("train: first step", 1.5, 0)
    text = profile.render().splitlines()
    assert text[0].startswith("time to first step: ") and text[1].startswith("  prepare_data ")
    assert text[2].startswith("    packing ") and text[3].endswith("1.50 s")
    profile.report()  # disabled: prints nothing
    assert not profile.printed
