"""bench/gpu_smoke.py: the parts that run without a GPU (the suite never needs one)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def smoke() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ftcore_bench_gpu_smoke", ROOT / "bench" / "gpu_smoke.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_without_cuda_it_says_so_and_succeeds(smoke: ModuleType, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert smoke.main([]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out == ["gpu_smoke: no CUDA device here; nothing to check (run it on a machine with a GPU)"]


def test_unknown_check_is_refused(smoke: ModuleType) -> None:
    with pytest.raises(SystemExit):
        smoke.main(["--only", "bf16,warp"])


def test_mfu(smoke: ModuleType) -> None:
    assert smoke.peak_tflops("NVIDIA H200") == 989.0
    assert smoke.peak_tflops("NVIDIA A100-SXM4-80GB") == 312.0
    assert smoke.peak_tflops("Mystery GPU") is None
    assert smoke.peak_tflops("Mystery GPU", 100.0) == 100.0
    # 1e4 tokens/s × 6 × 1e9 parameters = 6e13 FLOP/s; of 989 TFLOP/s
    assert smoke.mfu(1e4, 10**9, 989.0) == pytest.approx(6e13 / 989e12)
    assert smoke.mfu(1e4, 10**9, None) is None


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_isolation_check(smoke: ModuleType, tiny_model: str, attn: str) -> None:
    """The isolation check itself: packed logits equal per-sample logits (CPU, fp32); a packed row run without
    its position ids (samples attending to each other) is caught."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model, attn_implementation=attn).eval()
    samples = [list(range(3, 3 + n)) for n in (9, 4, 13)]
    assert smoke.packed_isolation(model, samples, flatten=False) < 1e-4

    broken = smoke.packed_isolation(_ignoring_position_ids(model, torch), samples, flatten=False)
    assert broken > 1e-3


def _ignoring_position_ids(model, torch):  # type: ignore[no-untyped-def]
    class Leaky(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def forward(self, input_ids, position_ids=None, use_cache=False):  # type: ignore[no-untyped-def]
            return self.inner(input_ids=input_ids, use_cache=use_cache)

    return Leaky()


def test_liger_hook(smoke: ModuleType, tmp_path: Path) -> None:
    assert smoke.liger_hook(tmp_path / "gpu_liger.py") is None
    (tmp_path / "gpu_liger.py").write_text("def gpu_check():\n    return {'liger': 'ok'}\n", encoding="utf-8")
    assert smoke.liger_hook(tmp_path / "gpu_liger.py")() == {"liger": "ok"}


def test_run_files_are_valid(smoke: ModuleType, tmp_path: Path, tiny_model: str, data_file: str) -> None:
    from ftcore.config import load_config

    plain = load_config(smoke.run_file(tmp_path / "a.toml", tiny_model, data_file, tmp_path / "out"))
    assert plain.tuner.method == "lora"
    fsdp = load_config(smoke.run_file(tmp_path / "b.toml", tiny_model, data_file, tmp_path / "out",
                                      tuner={"method": "full"}, fsdp="full_shard", gradient_checkpointing=True))
    assert fsdp.train.fsdp == "full_shard" and fsdp.tuner.method == "full"
    qlora = load_config(smoke.run_file(tmp_path / "c.toml", tiny_model, data_file, tmp_path / "out",
                                       tuner={"method": "qlora", "rank": 8, "targets": "all"}))
    assert qlora.tuner.method == "qlora"


def test_context_parallel_run_file_is_valid(smoke: ModuleType, tmp_path: Path, tiny_model: str,
                                            data_file: str) -> None:
    from ftcore.config import load_config

    cfg = load_config(smoke.run_file(tmp_path / "cp.toml", tiny_model, data_file, tmp_path / "out",
                                     model={"attn": "flash_attention_2"}, context_parallel=2, deepspeed="zero2",
                                     batch_size=1, grad_accum=2))
    assert cfg.train.context_parallel == 2 and cfg.model.attn == "flash_attention_2"
