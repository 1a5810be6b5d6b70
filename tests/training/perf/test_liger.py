"""train.liger: refused without liger-kernel or without a CUDA GPU; Liger's fused linear cross-entropy inside the
loss-only head equals ftcore's own head (on the CPU through triton's interpreter); the patches apply."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ftcore.config import config_from_dict

HERE = Path(__file__).parent


def test_preflight_refuses_liger_without_the_package_or_a_gpu(monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    import importlib.util

    from ftcore import preflight

    cfg = config_from_dict({"train": {"liger": True}, "output": {"dir": str(tmp_path)}}, source="run.toml")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "liger_kernel" else real(name, *a))
    problems = [p for p in preflight.environment_problems(cfg) if "train.liger" in p]
    assert problems == ["run.toml: train.liger: Liger kernels need the liger-kernel package (pip install "
                        "liger-kernel; CUDA GPUs only); or set train.liger = false"]
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name == "liger_kernel" else real(name, *a))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    problems = [p for p in preflight.environment_problems(cfg) if "train.liger" in p]
    assert len(problems) == 1 and "CUDA GPUs (triton) and none is visible" in problems[0]
    off = config_from_dict({"output": {"dir": str(tmp_path)}})
    assert not [p for p in preflight.environment_problems(off) if "liger" in p]


def test_liger_head_falls_back_to_ftcores_off_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    from ftcore.training.loss import head_cross_entropy_sum

    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    torch.manual_seed(0)
    hidden, head = torch.randn(7, 16), torch.nn.Linear(16, 40, bias=False)
    targets = torch.randint(0, 40, (7,))
    ours = head_cross_entropy_sum(hidden, targets, head)
    assert torch.equal(head_cross_entropy_sum(hidden, targets, head, impl="liger"), ours)


@pytest.mark.slow  # ~30-45 s: triton's interpreter runs the kernel in Python
def test_liger_fused_linear_cross_entropy_equals_ftcores_head() -> None:
    assert importlib.util.find_spec("liger_kernel") is not None, (
        "this check needs liger-kernel (pip install liger-kernel; nox -s tests installs it)")
    env = {**os.environ, "TRITON_INTERPRET": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, str(HERE / "_liger_check.py")], capture_output=True, text=True, env=env,
                          timeout=600)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line is not None, proc.stderr[-3000:]
    out = json.loads(line[len("RESULT "):])
    assert out["patched"] == "qwen2" and out["norm"].startswith("LigerRMSNorm")
    head = out["liger-head"]
    assert head["loss_diff"] < 1e-5 and head["correct_same"] and head["grad_names_same"]
    assert head["grad_diff"] < 1e-5
