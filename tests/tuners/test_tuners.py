"""LoRA targets (auto / all / list), LoRA and full tuning through peft, parameter counts."""

from __future__ import annotations

import pytest

from ftcore.errors import FtcoreError
from ftcore.specs import ModelSpec, TunerOptions
from ftcore.testing import build_tiny_model_dir
from ftcore.tuners import (
    apply_tuner,
    count_parameters,
    describe_parameters,
    linear_module_names,
    resolve_targets,
)

ALL = ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return build_tiny_model_dir(tmp_path_factory.mktemp("tiny"), arch="llama")  # untied head


def _model(model_dir: str):  # type: ignore[no-untyped-def]
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(model_dir)


def test_all_is_every_linear_but_the_head(model_dir: str) -> None:
    model = _model(model_dir)
    assert linear_module_names(model) == ALL
    assert "lm_head" not in resolve_targets(model, "all")
    assert resolve_targets(model, ["ALL"]) == ALL


def test_auto_uses_the_spec_then_peft_then_all(model_dir: str) -> None:
    model = _model(model_dir)
    spec = ModelSpec(name="x", path="p", lora_targets=["q_proj", "k_proj"])
    assert resolve_targets(model, "auto", spec) == ["q_proj", "k_proj"]
    # no plugin: peft's targets for the architecture (llama: q_proj, v_proj) …
    assert resolve_targets(model, "auto", ModelSpec(name="y", path="p")) == ["q_proj", "v_proj"]
    # … else every Linear but the head
    model.config.model_type = "no-such-architecture"
    assert resolve_targets(model, "auto", ModelSpec(name="y", path="p")) == ALL


def test_list_is_checked(model_dir: str) -> None:
    model = _model(model_dir)
    assert resolve_targets(model, ["q_proj", "o_proj"]) == ["q_proj", "o_proj"]
    with pytest.raises(FtcoreError, match="tuner.targets: qkv not found in the model; its Linear layers are: down_proj"):
        resolve_targets(model, ["q_proj", "qkv"])


def test_lora_wraps_only_targets(model_dir: str) -> None:
    model = apply_tuner(_model(model_dir), TunerOptions(method="lora", rank=4, alpha=8, targets=["q_proj", "v_proj"],
                                                         modules_to_save=["lm_head"]))
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or "modules_to_save" in n for n in trainable)
    assert any("q_proj.lora_A" in n for n in trainable) and not any("k_proj.lora" in n for n in trainable)
    assert any("lm_head.modules_to_save" in n for n in trainable)
    t, total = count_parameters(model)
    assert 0 < t < total
    assert describe_parameters(model).startswith(f"trainable params: {t:,} || all params: {total:,}")


def test_full_trains_everything_and_unknown_method(model_dir: str) -> None:
    model = apply_tuner(_model(model_dir), TunerOptions(method="full"))
    t, total = count_parameters(model)
    assert t == total
    with pytest.raises(FtcoreError, match=r"tuner.method: unknown tuner 'dora' .*known: lora, qlora, full"):
        apply_tuner(model, TunerOptions(method="dora"))


def test_gradient_checkpointing_with_lora_keeps_gradients(model_dir: str) -> None:
    import torch

    model = apply_tuner(_model(model_dir), TunerOptions(method="lora", rank=4, targets=["q_proj"],
                                                         gradient_checkpointing=True))
    model.train()
    ids = torch.tensor([[1, 2, 3, 4, 5]])
    model(input_ids=ids, labels=ids).loss.backward()
    grads = [p.grad for n, p in model.named_parameters() if "lora_B" in n]  # lora_A: zero grad at init (B = 0)
    assert grads and all(g is not None and g.abs().sum() > 0 for g in grads)
