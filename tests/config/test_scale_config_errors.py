"""Impossible combinations are one-line config errors, before anything loads."""

from __future__ import annotations

import pytest

from ftcore.config import config_from_dict
from ftcore.errors import ConfigError

BASE = {"model": {"name": "ftcore-tiny-qwen2"}, "data": {"datasets": ["self-cognition-mini"]}}


def problems(**sections: dict) -> list[str]:
    data = {k: dict(v) for k, v in BASE.items()}
    for key, values in sections.items():
        data.setdefault(key, {}).update(values)
    with pytest.raises(ConfigError) as info:
        config_from_dict(data)
    return str(info.value).splitlines()


def test_quantization_with_full_tuning() -> None:
    lines = problems(model={"name": "ftcore-tiny-qwen2", "quantization": {"bits": 4}}, tuner={"method": "full"})
    assert any(line.startswith("run.toml: tuner.method: full fine-tuning cannot train a quantized model")
               for line in lines)


def test_deepspeed_with_device_map() -> None:
    lines = problems(model={"name": "ftcore-tiny-qwen2", "device_map": "auto"}, train={"deepspeed": "zero3"})
    assert any("train.deepspeed: DeepSpeed cannot be combined with model.device_map" in line for line in lines)


def test_gloo_with_quantization() -> None:
    lines = problems(tuner={"method": "qlora"}, train={"ddp_backend": "gloo"})
    assert lines == ["run.toml: train.ddp_backend: gloo cannot run DDP over a bitsandbytes-quantized model; leave "
                     "ddp_backend unset (nccl on GPUs) or set model.quantization.bits = 0"]


@pytest.mark.parametrize("data", [{"lazy": True}, {"streaming": True}])
def test_oom_test_needs_tokenized_data(data: dict) -> None:
    lines = problems(data={"datasets": ["self-cognition-mini"], **data},
                     train={"test_oom_error": True, "max_steps": 5})
    assert any(line.startswith("run.toml: train.test_oom_error: sorting longest-first") for line in lines)


def test_unknown_deepspeed_preset_suggests() -> None:
    lines = problems(train={"deepspeed": "zero2_offload"})
    assert "did you mean zero2-offload?" in lines[0]


def test_qlora_turns_on_4bit() -> None:
    from ftcore.training.resolved import resolve_run

    cfg = config_from_dict({**BASE, "tuner": {"method": "qlora"}})
    assert resolve_run(cfg).config.model.quantization.bits == 4  # the run decides it
    assert cfg.model.quantization.bits == 0  # the config as written


def test_full_deepspeed_may_save_optimizer_states() -> None:
    cfg = config_from_dict({**BASE, "tuner": {"method": "full"},
                            "train": {"deepspeed": "zero3", "only_save_model": False}})
    assert cfg.train.only_save_model is False
