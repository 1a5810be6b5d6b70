"""Time to first step: building the Trainer of a run without DeepSpeed does not import DeepSpeed (seconds)."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = r"""
import sys, tempfile
from transformers import AutoConfig, AutoModelForCausalLM, TrainingArguments
from ftcore.testing import TINY_CONFIGS
from ftcore.training.trainer import FtcoreTrainer
assert "deepspeed" not in sys.modules
model = AutoModelForCausalLM.from_config(AutoConfig.for_model("qwen2", vocab_size=64, **TINY_CONFIGS["qwen2"]))
with tempfile.TemporaryDirectory() as out:
    FtcoreTrainer(model=model, args=TrainingArguments(output_dir=out, use_cpu=True, report_to="none"))
from accelerate.utils import other
print("IMPORTED", "deepspeed" in sys.modules, other.is_deepspeed_available())
import importlib.util
if importlib.util.find_spec("deepspeed") is not None:
    import deepspeed  # a DeepSpeed run imports it: accelerate's check answers again
    print("AFTER", other.is_deepspeed_available())
"""


def test_trainer_without_deepspeed_does_not_import_it() -> None:
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "IMPORTED False False" in proc.stdout
    if "AFTER" in proc.stdout:
        assert "AFTER True" in proc.stdout
