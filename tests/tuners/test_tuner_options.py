"""The new methods' options are validated like the rest of run.toml, and a method that cannot do what the run asks
is a one-line error before the model loads (quantized base, merge, ZeRO-3, GaLore's package …)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ftcore.config import config_from_dict
from ftcore.errors import ConfigError, FtcoreError
from ftcore.validation import check_references


def _cfg(tmp_path: Path, tuner: dict[str, Any], **extra: Any) -> Any:
    sections: dict[str, Any] = {"model": {"name": "ftcore-tiny-qwen2"}, "data": {"datasets": ["self-cognition-mini"]},
                                "tuner": tuner, "train": {"max_steps": 10}}
    for key, value in extra.items():
        sections[key] = {**sections.get(key, {}), **value}
    return config_from_dict(sections, base_dir=str(tmp_path))


def _problems(cfg: Any) -> list[str]:
    with pytest.raises(ConfigError) as info:
        check_references(cfg)
    return info.value.problems


@pytest.mark.parametrize(
    ("tuner", "problem"),
    [
        ({"method": "lora", "use_dorra": True}, "tuner.use_dorra: unknown key (did you mean tuner.use_dora?)"),
        ({"method": "vera", "vera_rnak": 4}, "tuner.vera_rnak: unknown key (did you mean tuner.vera_rank?)"),
        ({"method": "adalora", "target_rank": 4}, "tuner.target_rank: unknown key (did you mean tuner.target_r?)"),
        ({"method": "freeze", "last_layer": 2}, "tuner.last_layer: unknown key (did you mean tuner.last_layers?)"),
        ({"method": "ia3", "use_dora": True},
         "tuner.use_dora: unknown key for tuner method 'ia3' (it takes: feedforward_modules, modules_to_save, targets)"),
        ({"method": "lora", "init": "pisa"},
         "tuner.init: must be one of default, gaussian, pissa, olora, eva, corda or pissa_niter_N (got 'pisa')"),
        ({"method": "oft", "oft_block_size": 0}, "tuner.oft_block_size: must be >= 1 (got 0)"),
    ],
)
def test_method_options_are_checked(tmp_path: Path, tuner: dict[str, Any], problem: str) -> None:
    assert [p.split(": ", 1)[1] for p in _problems(_cfg(tmp_path, tuner))] == [problem]


def test_each_builtin_method_validates_with_its_defaults(tmp_path: Path) -> None:
    from ftcore.registry import get_catalog

    for spec in get_catalog().tuners.specs.values():
        if spec.plugin.startswith("ftcore ") and spec.name != "galore":
            check_references(_cfg(tmp_path, {"method": spec.name}))


@pytest.mark.parametrize("method", ["lokr", "loha", "vera", "oft", "boft", "freeze", "llama-pro", "galore"])
def test_quantized_base_is_refused_by_methods_that_cannot_take_one(tmp_path: Path, method: str) -> None:
    cfg = _cfg(tmp_path, {"method": method}, model={"quantization": {"bits": 4}})
    assert _problems(cfg) == [f"run.toml: tuner.method: {method!r} cannot train a quantized model "
                              "(set model.quantization.bits = 0, or use method = 'qlora')"]


def test_lora_options_combine_with_qlora_except_the_weight_rewriting_inits(tmp_path: Path) -> None:
    check_references(_cfg(tmp_path, {"method": "qlora", "use_dora": True, "use_rslora": True, "lora_plus_ratio": 16,
                                     "layers_to_transform": [0], "rank_pattern": {"q_proj": 4}}))
    check_references(_cfg(tmp_path, {"method": "adalora"}, model={"quantization": {"bits": 4}}))
    assert _problems(_cfg(tmp_path, {"method": "qlora", "init": "pissa"})) == [
        "run.toml: tuner.init: 'pissa' rewrites the base weights, which a quantized model cannot do; load the model "
        "unquantized (model.quantization.bits = 0) or keep init = 'default'"
    ]


def test_run_level_problems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _problems(_cfg(tmp_path, {"method": "adalora"}, train={"max_steps": -1})) == [
        "run.toml: tuner.total_step: AdaLoRA's rank budget needs the run's length; set train.max_steps or "
        "tuner.total_step"
    ]
    check_references(_cfg(tmp_path, {"method": "adalora", "total_step": 50}, train={"max_steps": -1}))
    assert _problems(_cfg(tmp_path, {"method": "freeze"}, infer={"merge_lora": True})) == [
        "run.toml: infer.merge_lora: tuner method 'freeze' saves no adapter to merge; set infer.merge_lora = false"
    ]
    assert _problems(_cfg(tmp_path, {"method": "vera"}, train={"deepspeed": "zero3"})) == [
        "run.toml: train.deepspeed: tuner method 'vera' does not work with DeepSpeed ZeRO-3; use zero2 "
        "(see: ftcore tuners)"
    ]
    assert _problems(_cfg(tmp_path, {"method": "lora", "init": "olora", "use_rslora": True,
                                     "alpha_pattern": {"q_proj": 4}})) == [
        "run.toml: tuner.init: a 'olora' checkpoint cannot be saved as plain LoRA with use_rslora and rank_pattern / "
        "alpha_pattern together (peft's conversion refuses it); drop one of them"
    ]
    import ftcore.tuners.galore as galore

    monkeypatch.setattr(galore, "galore_installed", lambda: False)
    assert _problems(_cfg(tmp_path, {"method": "galore"})) == [
        "run.toml: tuner.method = 'galore' needs the galore-torch package: pip install galore-torch "
        "(or 'ftcore[galore]')"
    ]


def test_adalora_total_step_defaults_to_max_steps(tmp_path: Path) -> None:
    from types import SimpleNamespace

    import ftcore
    from ftcore.tuners import tuner_options

    cfg = _cfg(tmp_path, {"method": "adalora"}, train={"max_steps": 37})
    options = tuner_options(cfg, ftcore.ModelSpec(name="m", path="/x"), SimpleNamespace(named_modules=lambda: iter(())))
    assert options.method_options.total_step == 37


def test_lora_plus_optimizer_gives_b_a_larger_learning_rate(tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, TrainingArguments

    from ftcore.specs import TunerOptions
    from ftcore.testing import build_tiny_model_dir
    from ftcore.tuners import apply_tuner
    from ftcore.tuners.lora import LoraOptions

    model = AutoModelForCausalLM.from_pretrained(build_tiny_model_dir(tmp_path / "tiny"))
    opts = LoraOptions(lora_plus_ratio=16)
    model = apply_tuner(model, TunerOptions(method="lora", targets=["q_proj"], method_options=opts))
    args = TrainingArguments(output_dir=str(tmp_path / "o"), learning_rate=1e-4, use_cpu=True, report_to="none")
    optimizer = opts.create_optimizer(model, args)
    rates = {group["lr"] for group in optimizer.param_groups if group["params"]}
    assert rates == {1e-4, 1.6e-3}
    assert LoraOptions().create_optimizer(model, args) is None  # plain LoRA: the Trainer's own


def test_freeze_trains_only_the_last_layers_and_named_modules(tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    from ftcore.specs import TunerOptions
    from ftcore.testing import build_tiny_model_dir
    from ftcore.tuners import apply_tuner
    from ftcore.tuners.freeze import FreezeOptions

    model = AutoModelForCausalLM.from_pretrained(build_tiny_model_dir(tmp_path / "tiny"))
    opts = FreezeOptions(last_layers=1, modules=["lm_head", "model.norm"])
    model = apply_tuner(model, TunerOptions(method="freeze", method_options=opts))
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith(("model.layers.1.", "model.norm")) for n in trainable)  # lm_head: tied
    assert any(n.startswith("model.layers.1.") for n in trainable) and "model.norm.weight" in trainable
    with pytest.raises(FtcoreError, match="tuner.modules: visual not found in the model"):
        apply_tuner(model, TunerOptions(method="freeze", method_options=FreezeOptions(modules=["visual"])))


def test_llama_pro_blocks_start_as_the_identity(tmp_path: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    from ftcore.tuners.freeze import expand_blocks

    model = AutoModelForCausalLM.from_pretrained(build_tiny(tmp_path)).eval()
    ids = torch.tensor([[1, 2, 3, 4]])
    before = model(input_ids=ids).logits
    assert expand_blocks(model, 2) == [1, 3]
    assert model.config.num_hidden_layers == 4 and len(model.model.layers) == 4
    assert torch.allclose(model(input_ids=ids).logits, before, atol=1e-5)
    with pytest.raises(FtcoreError, match="tuner.new_blocks: must divide"):
        expand_blocks(model, 3)


def build_tiny(tmp_path: Path) -> str:
    from ftcore.testing import build_tiny_model_dir

    return build_tiny_model_dir(tmp_path / "tiny")


def test_data_driven_inits_need_calibration_batches(tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    from ftcore.specs import TunerOptions
    from ftcore.tuners import apply_tuner
    from ftcore.tuners.lora import LoraOptions

    check_references(_cfg(tmp_path, {"method": "lora", "init": "eva"}))
    check_references(_cfg(tmp_path, {"method": "lora", "init": "corda"}))
    model = AutoModelForCausalLM.from_pretrained(build_tiny(tmp_path))
    with pytest.raises(FtcoreError, match="tuner.init: 'eva' initialises from training batches"):
        apply_tuner(model, TunerOptions(method="lora", targets=["q_proj"], method_options=LoraOptions(init="eva")))


def test_merge_refuses_a_method_without_merge_support(tmp_path: Path) -> None:
    from ftcore.inference.merge import merge_lora

    ckpt = tmp_path / "checkpoint-2"
    ckpt.mkdir()
    (ckpt / "config.json").write_text("{}")
    (ckpt / "ftcore_run.toml").write_text(
        '[model]\nname = "ftcore-tiny-qwen2"\n[data]\ndatasets = ["self-cognition-mini"]\n[tuner]\nmethod = "freeze"\n')
    with pytest.raises(FtcoreError, match=r"tuner method 'freeze' does not support merging \(see: ftcore tuners\)"):
        merge_lora(ckpt)
