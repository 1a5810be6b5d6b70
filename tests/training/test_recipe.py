"""The training recipe: each step alone, the frozen record of decided values, the environment in one place, and
the user's RunConfig left unchanged by a whole run."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from ftcore.config import config_from_dict, load_config
from ftcore.training.environment import configure_environment, environment_for
from ftcore.training.recipe import Recipe, SFTRecipe, get_recipe
from ftcore.training.resolved import ResolvedRun, resolve_run

ROWS = [{"query": f"question {i}?", "response": f"answer {i}."} for i in range(12)]


def _config(tmp: Path, **sections: Any) -> Any:
    data = tmp / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    raw: dict[str, Any] = {
        "model": {"name": "ftcore-tiny-qwen2"},
        "template": {"max_length": 64},
        "data": {"datasets": [{"path": str(data)}], "test_ratio": 0.25},
        "tuner": {"method": "lora"},
        "train": {"max_steps": 2, "batch_size": 2, "eval_steps": 2, "logging_steps": 1, "report_to": [],
                  "dataloader_num_workers": 0},
        "output": {"dir": str(tmp / "out")},
    }
    for key, value in sections.items():
        raw.setdefault(key, {}).update(value)
    return config_from_dict(raw, base_dir=str(tmp))


# ------------------------------------------------------------------------------------------------ ResolvedRun


def test_resolve_run_decides_from_the_config_alone(tmp_path: Path) -> None:
    run = resolve_run(_config(tmp_path))
    assert run.lr == 1e-4 and run.only_save_model is False and run.quantization_bits == 0
    assert run.packing is None and run.targets is None and run.template_name is None  # decided in later steps
    full = resolve_run(_config(tmp_path, tuner={"method": "full"}))
    assert full.lr == 2e-5 and full.only_save_model is True
    assert resolve_run(_config(tmp_path, train={"lr": 0.5})).lr == 0.5


def test_qlora_loads_in_four_bits_without_changing_the_config(tmp_path: Path) -> None:
    cfg = _config(tmp_path, tuner={"method": "qlora"})
    assert cfg.model.quantization.bits == 0  # validation no longer writes into the config
    run = resolve_run(cfg)
    assert run.quantization_bits == 4 and run.config.model.quantization.bits == 4
    assert cfg.model.quantization.bits == 0
    eight = _config(tmp_path, tuner={"method": "qlora"}, model={"quantization": {"bits": 8}})
    assert resolve_run(eight).quantization_bits == 8


def test_resolved_run_is_frozen_and_replace_copies(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    run = resolve_run(cfg)
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.lr = 1.0  # type: ignore[misc]
    later = run.replace(packing=True, targets=("q_proj", "v_proj"), template_name="chatml", dtype="fp32")
    assert later is not run and later.config is not run.config
    assert run.config.data.packing == "auto" and run.config.tuner.targets == "auto"  # the earlier record as it was
    assert later.config.data.packing is True and later.config.tuner.targets == ["q_proj", "v_proj"]
    assert later.config.template.name == "chatml" and later.config.model.dtype == "fp32"
    assert cfg.data.packing == "auto" and cfg.template.name is None  # the user's config as it was


def test_run_toml_holds_every_decided_value_and_loads_again(tmp_path: Path) -> None:
    run = resolve_run(_config(tmp_path)).replace(packing=False, targets=("q_proj",), template_name="chatml",
                                                 dtype="fp32", model_name="ftcore-tiny-qwen2")
    text = run.to_toml()
    (tmp_path / "again.toml").write_text(text)
    again = load_config(tmp_path / "again.toml")
    assert again.train.lr == 1e-4 and again.data.packing is False and again.tuner.targets == ["q_proj"]
    assert again.template.name == "chatml" and again.model.dtype == "fp32" and again.train.only_save_model is False
    assert Path(again.data.datasets[0].path).is_absolute()  # type: ignore[union-attr]


# ------------------------------------------------------------------------------------------------ environment


def test_environment_is_decided_from_the_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ftcore.training.environment as environment

    monkeypatch.setattr(environment, "accelerator", lambda: "cpu")
    monkeypatch.delenv("DS_ACCELERATOR", raising=False)
    plain = _config(tmp_path)
    assert environment_for(plain) == {}
    ds = _config(tmp_path, train={"deepspeed": "zero2"})
    monkeypatch.setattr(environment, "world_size", lambda: 1)
    assert environment_for(ds) == {"DS_ACCELERATOR": "cpu"}
    monkeypatch.setattr(environment, "world_size", lambda: 2)
    assert environment_for(ds) == {"DS_ACCELERATOR": "cpu", "ACCELERATE_USE_DEEPSPEED": "true"}
    monkeypatch.setenv("DS_ACCELERATOR", "xpu")  # a user's own choice wins
    assert environment_for(ds)["DS_ACCELERATOR"] == "xpu"
    target: dict[str, str] = {}
    assert configure_environment(ds, target) == target


def test_only_the_environment_module_writes_os_environ() -> None:
    import re

    src = Path(__file__).resolve().parents[2] / "src" / "ftcore"
    writes = re.compile(r"os\.environ\[[^\]]+\]\s*=|os\.environ\.(setdefault|update|pop)\(|os\.putenv\(")
    found = [str(p.relative_to(src)) for p in src.rglob("*.py") if writes.search(p.read_text(encoding="utf-8"))]
    assert found == [], found


# ------------------------------------------------------------------------------------------------ steps


def test_steps_are_named_and_stages_are_recipes() -> None:
    assert Recipe.steps == ("setup_distributed", "load_model", "build_template", "prepare_data", "apply_tuner",
                            "plan_output", "build_trainer", "train")
    assert get_recipe("sft") is SFTRecipe and SFTRecipe.stage == "sft"
    from ftcore.errors import FtcoreError

    with pytest.raises(FtcoreError, match="unknown training stage 'dpp' \\(did you mean dpo"):
        get_recipe("dpp")


def test_steps_one_by_one(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    recipe = SFTRecipe(cfg)
    recipe.setup_distributed()
    recipe.load_model()
    assert recipe.model is not None and recipe.run_record.model_name == "ftcore-tiny-qwen2"
    assert recipe.run_record.dtype == "fp32"  # auto on a CPU
    recipe.build_template()
    assert recipe.run_record.template_name == recipe.template.spec.name
    recipe.prepare_data()
    assert len(recipe.data.train) > 0 and recipe.has_eval and recipe.run_record.packing is True  # auto: packable
    recipe.apply_tuner()
    assert recipe.run_record.targets and type(recipe.model).__name__ == "PeftModelForCausalLM"
    recipe.plan_output()
    assert recipe.run_dir is not None and (recipe.run_dir / "run.toml").is_file()
    written = (recipe.run_dir / "run.toml").read_text()
    assert "packing = true" in written and "lr = 0.0001" in written and 'dtype = "fp32"' in written
    recipe.build_trainer()
    recipe.train()
    assert recipe.result is not None and Path(str(recipe.result.last_checkpoint)).is_dir()
    assert isinstance(recipe.run_record, ResolvedRun)


def test_train_leaves_the_users_config_unchanged(tmp_path: Path) -> None:
    from ftcore.training import train

    cfg = _config(tmp_path)
    before = cfg.model_dump(mode="json")
    result = train(cfg)
    assert cfg.model_dump(mode="json") == before
    assert cfg.data.packing == "auto" and cfg.train.lr == "auto" and cfg.tuner.targets == "auto"
    assert result.last_checkpoint and Path(result.last_checkpoint).is_dir()
