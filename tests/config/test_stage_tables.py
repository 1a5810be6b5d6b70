"""The stage contract: train.stage, the [dpo] … option tables, a plugin stage's own table, `ftcore stages`,
get_recipe through the catalog."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ftcore import plugins
from ftcore.cli import main
from ftcore.config import config_from_dict, config_to_toml
from ftcore.errors import ConfigError, FtcoreError
from ftcore.validation import check_references, stage_options

PLUGIN = '''
import ftcore
from pydantic import BaseModel, ConfigDict

class MyOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    alpha: float = 1.0

@ftcore.hookimpl
def register_stages(register):
    register(ftcore.StageSpec(name="my-po", recipe="ftcore.training.recipe:SFTRecipe", options=MyOptions,
                              data="preference", description="a plugin's stage"))
    register(ftcore.StageSpec(name="not-yet", recipe="no_such_module.stage:Recipe", data="kto"))
'''


@pytest.fixture
def builtins_only(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv(plugins.ENV_LOAD_PLUGINS, "")
    plugins.reset()
    yield
    plugins.reset()


def _problems(data: dict, base_dir: str = ".") -> list[str]:  # type: ignore[type-arg]
    try:
        cfg = config_from_dict({"model": "ftcore-tiny-qwen2", **data}, base_dir=base_dir)
        check_references(cfg, training=False)
    except ConfigError as exc:
        return exc.problems
    return []


def test_stage_tables_are_validated_like_every_key() -> None:
    cfg = config_from_dict({"train": {"stage": "dpo"}, "dpo": {"beta": 0.3, "loss_type": "ipo"}})
    assert (cfg.train.stage, cfg.dpo.beta, cfg.dpo.loss_type, cfg.kto.desirable_weight) == ("dpo", 0.3, "ipo", 1.0)
    assert _problems({"dpo": {"bta": 1}}) == ["run.toml: dpo.bta: unknown key (did you mean dpo.beta?)"]
    assert _problems({"simpo": {"gamma": "x"}}) == ["run.toml: simpo.gamma: must be a number (got 'x')"]
    assert _problems({"trainer": {}}) == ["run.toml: trainer: unknown key (did you mean train?)"]
    # only the run's own stage table (or a changed one) is written into run.toml
    text = config_to_toml(cfg)
    assert "[dpo]" in text and "[kto]" not in text and "[sft]" not in text


def test_train_stage_must_be_registered(builtins_only: None) -> None:
    assert _problems({"train": {"stage": "dpp"}}) == [
        "run.toml: train.stage: unknown stage 'dpp' (did you mean dpo? known: sft, dpo, kto, orpo, simpo, cpo, rm; "
        "see: ftcore stages)"]


def test_a_plugin_stage_brings_its_table(builtins_only: None, tmp_path: Path) -> None:
    (tmp_path / "stage_plugin.py").write_text(PLUGIN)
    base = {"plugins": ["stage_plugin.py"]}
    assert _problems({**base, "my-po": {"alpa": 2, "alpha": "x"}}, str(tmp_path)) == [
        "run.toml: my-po.alpha: must be a number (got 'x')",
        "run.toml: my-po.alpa: unknown key (did you mean my-po.alpha?)"]
    assert _problems({**base, "my-p": {}}, str(tmp_path)) == [
        "run.toml: my-p: unknown key (did you mean [my-po]?)"]
    cfg = config_from_dict({"model": "ftcore-tiny-qwen2", **base, "train": {"stage": "my-po"},
                            "my-po": {"alpha": 2.5}}, base_dir=str(tmp_path))
    check_references(cfg, training=False)
    assert stage_options(cfg).alpha == 2.5 and stage_options(cfg, "dpo") is cfg.dpo
    assert "[my-po]" in config_to_toml(cfg)  # the run's record keeps the table

    from ftcore.training.recipe import SFTRecipe, get_recipe

    assert get_recipe("my-po") is SFTRecipe
    with pytest.raises(FtcoreError, match=r"training stage 'not-yet' \(stage_plugin.py \(local file\)\) cannot be "
                       r"used: stage 'not-yet': recipe: cannot import 'no_such_module.stage:Recipe'"):
        get_recipe("not-yet")  # a one-line error, not an ImportError traceback


def test_get_recipe_resolves_through_the_catalog(builtins_only: None) -> None:
    from ftcore.training.recipe import SFTRecipe, get_recipe

    assert get_recipe("sft") is SFTRecipe
    with pytest.raises(FtcoreError, match=r"unknown training stage 'dpp' \(did you mean dpo"):
        get_recipe("dpp")


def test_ftcore_stages_lists_every_stage(builtins_only: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stages", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert list(rows) == ["sft", "dpo", "kto", "orpo", "simpo", "cpo", "rm"]
    assert rows["dpo"]["data"] == "preference" and rows["kto"]["data"] == "kto"
    assert rows["dpo"]["options"]["beta"] == 0.1 and rows["dpo"]["recipe"] == "ftcore.training.stages.dpo:DPORecipe"
    assert rows["rm"]["recipe"] == "ftcore.training.stages.rm:RewardRecipe"
    assert main(["stages"]) == 0
    assert "simpo" in capsys.readouterr().out


def test_alignment_examples_and_docs() -> None:
    from ftcore.config import load_config
    from ftcore.config.stages import DPOOptions

    root = Path(__file__).resolve().parents[2]
    example = root / "examples" / "alignment" / "dpo.toml"
    cfg = load_config(example)
    assert cfg.train.stage == "dpo" and "ftcore train examples/alignment/dpo.toml" in example.read_text()
    chain = (root / "examples" / "alignment" / "sft_then_dpo.md").read_text()
    assert "ftcore merge" in chain and "examples/alignment/dpo.toml" in chain
    doc = (root / "docs" / "alignment.md").read_text()
    for key in DPOOptions.model_fields:
        assert f"`{key}`" in doc, key
    for heading in ("## DPO", "## KTO", "## ORPO", "## SimPO and CPO", "## Reward models", "## The reference model"):
        assert heading in doc
