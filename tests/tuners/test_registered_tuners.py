"""Tuning methods are catalog entries: the built-ins, registration checks, tuner.method and its [tuner] keys
validated against the catalog, ``ftcore tuners``, the configure_tuner override, and the doc's plugin tuner."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import ftcore
from ftcore import plugins
from ftcore.cli import main
from ftcore.config import config_from_dict
from ftcore.errors import ConfigError, FtcoreError, PluginError
from ftcore.registry import Catalog, get_catalog, get_tuner_spec
from ftcore.specs import TunerOptions, TunerSpec
from ftcore.tuners import apply_tuner, default_lr
from ftcore.validation import check_references

SRC = Path(__file__).resolve().parents[2] / "src" / "ftcore"


def test_builtin_tuners_are_registered(builtins_only: None) -> None:
    tuners = get_catalog().tuners
    assert tuners.names() == ["lora", "qlora", "full", "adalora", "ia3", "vera", "lokr", "loha", "oft", "boft",
                              "freeze", "llama-pro", "galore"]
    lora, qlora, full = (tuners.get(n) for n in ("lora", "qlora", "full"))
    assert (lora.default_lr, qlora.default_lr, full.default_lr) == (1e-4, 1e-4, 2e-5)
    assert (lora.supports_merge, qlora.supports_merge, full.supports_merge) == (True, True, False)
    assert (lora.supports_quantized, qlora.supports_quantized, full.supports_quantized) == (True, True, False)
    assert (lora.needs_targets, qlora.needs_targets, full.needs_targets) == (True, True, False)
    assert full.plugin.startswith("ftcore ") and get_catalog().owner("tuner", "full") == "ftcore.builtin.tuners"
    assert set(lora.options_model().model_fields) == {
        "rank", "alpha", "dropout", "targets", "bias", "modules_to_save", "use_dora", "use_rslora", "init",
        "lora_plus_ratio", "layers_to_transform", "rank_pattern", "alpha_pattern"}
    assert full.options_model().model_fields == {}
    assert ftcore.TunerSpec is TunerSpec


def test_default_lr(builtins_only: None) -> None:
    assert (default_lr("lora"), default_lr("qlora"), default_lr("full")) == (1e-4, 1e-4, 2e-5)
    with pytest.raises(FtcoreError, match=r"unknown tuner 'ful' \(did you mean full\? known: lora, qlora, full"):
        default_lr("ful")


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        (TunerSpec(name="Bad Name", apply=print), "tuner name 'Bad Name' must be lower-case"),
        (TunerSpec(name="t", apply=5), "tuner 't': apply must be callable or a 'module:function' string"),
        (TunerSpec(name="t", apply=print, options={"rank": 1}), "tuner 't': options must be a pydantic model"),
        (TunerSpec(name="t", apply=print, default_lr=0), "tuner 't': default_lr must be a number > 0"),
        (TunerSpec(name="t", apply=print, supports_merge="yes"), "tuner 't': supports_merge must be bool"),  # type: ignore[arg-type]
    ],
)
def test_registration_problems_name_the_plugin(spec: TunerSpec, error: str) -> None:
    catalog = Catalog()
    catalog.add("tuner", spec, "ftcore-x 1.0", "x")
    assert len(catalog.errors) == 1 and catalog.errors[0].startswith(f"plugin ftcore-x 1.0: {error}")
    assert "t" not in catalog.tuners


def test_duplicate_tuner_names_are_reported_like_models() -> None:
    catalog = Catalog()
    catalog.add("tuner", TunerSpec(name="dora", apply=print), "ftcore-a 1.0", "a")
    catalog.add("tuner", TunerSpec(name="dora", apply=print), "ftcore-b 2.0", "b")
    message = (
        "tuner 'dora' is registered by both ftcore-a 1.0 and ftcore-b 2.0; uninstall one of them "
        "(or set FTCORE_LOAD_PLUGINS), or register the new one under another name"
    )
    assert catalog.errors == [message]
    with pytest.raises(PluginError, match="registered by both"):
        catalog.tuners.get("dora")


def test_dotted_apply_is_imported_only_when_used() -> None:
    spec = TunerSpec(name="t", apply="ftcore_no_such_module:apply")
    assert spec.problems() == []  # registering and listing import nothing
    with pytest.raises(PluginError, match=r"tuner 't': apply: cannot import 'ftcore_no_such_module:apply'"):
        spec.apply_function()


def _cfg(tmp_path: Path, tuner: dict[str, Any], **extra: Any) -> Any:
    return config_from_dict(
        {"model": {"name": "ftcore-tiny-qwen2"}, "data": {"datasets": ["self-cognition-mini"]}, "tuner": tuner,
         **extra},
        base_dir=str(tmp_path),
    )


def _problems(cfg: Any) -> list[str]:
    with pytest.raises(ConfigError) as info:
        check_references(cfg)
    return info.value.problems


def test_method_is_checked_against_the_catalog(builtins_only: None, tmp_path: Path) -> None:
    assert _problems(_cfg(tmp_path, {"method": "lroa"})) == [
        "run.toml: tuner.method: unknown tuner 'lroa' (did you mean lora, loha, qlora? known: "
        "lora, qlora, full, adalora, ia3, vera, lokr, loha, oft, boft, freeze, llama-pro, galore; see: ftcore tuners)"
    ]
    assert _problems(_cfg(tmp_path, {"method": "prefix"})) == [
        "run.toml: tuner.method: unknown tuner 'prefix' (known: lora, qlora, full, adalora, ia3, "
        "vera, lokr, loha, oft, boft, freeze, llama-pro, galore; see: ftcore tuners)"
    ]
    check_references(_cfg(tmp_path, {"method": "full"}))  # no error


def test_unknown_tuner_keys(builtins_only: None, tmp_path: Path) -> None:
    assert _problems(_cfg(tmp_path, {"method": "lora", "rnak": 4})) == [
        "run.toml: tuner.rnak: unknown key (did you mean tuner.rank?)"
    ]
    assert _problems(_cfg(tmp_path, {"method": "full", "layers": 2})) == [
        "run.toml: tuner.layers: unknown key for tuner method 'full' (it takes: no keys of its own)"
    ]
    assert _problems(_cfg(tmp_path, {"method": "lora", "lr": 1e-4, "lora_alpha": 8})) == [
        "run.toml: tuner.lr: unknown key (did you mean train.lr?)",
        "run.toml: tuner.lora_alpha: unknown key (did you mean tuner.alpha?)",
    ]
    # the flat LoRA keys stay accepted with every method (a full run's run.toml holds them too)
    check_references(_cfg(tmp_path, {"method": "full", "rank": 16}))


def test_plugin_tuner_options_are_validated_by_its_model(tuner_file: Path, tmp_path: Path) -> None:
    plugins_ = ["./my_tuner.py"]
    check_references(_cfg(tmp_path, {"method": "bias-only", "train_norms": True}, plugins=plugins_))
    assert default_lr("bias-only") == 1e-3
    spec = get_tuner_spec("bias-only")
    assert spec.plugin == "./my_tuner.py (local file)" and not spec.supports_merge
    assert _problems(_cfg(tmp_path, {"method": "bias-only", "train_norm": True}, plugins=plugins_)) == [
        "run.toml: tuner.train_norm: unknown key (did you mean tuner.train_norms?)"
    ]
    assert _problems(_cfg(tmp_path, {"method": "bias-only", "train_norms": "often"}, plugins=plugins_)) == [
        "run.toml: tuner.train_norms: must be true or false (got 'often')"
    ]
    quantized = _cfg(tmp_path, {"method": "bias-only"}, plugins=plugins_, model={
        "name": "ftcore-tiny-qwen2", "quantization": {"bits": 4}})
    assert _problems(quantized) == [
        "run.toml: tuner.method: 'bias-only' cannot train a quantized model "
        "(set model.quantization.bits = 0, or use method = 'qlora')"
    ]


def test_tuner_options_carry_the_validated_method_options(tuner_file: Path, tmp_path: Path) -> None:
    from ftcore.tuners import tuner_options

    cfg = _cfg(tmp_path, {"method": "bias-only", "train_norms": True}, plugins=["./my_tuner.py"])
    check_references(cfg)
    model = SimpleNamespace(named_modules=lambda: iter(()))
    options = tuner_options(cfg, ftcore.ModelSpec(name="m", path="/x"), model)
    assert options.method == "bias-only" and options.targets == []  # needs_targets is False
    assert options.method_options.train_norms is True
    assert type(options.method_options).__name__ == "BiasOnlyOptions"


def test_ftcore_tuners_lists_methods(builtins_only: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tuners", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert list(rows)[:3] == ["lora", "qlora", "full"] and len(rows) == 13
    assert rows["full"]["default_lr"] == 2e-5 and rows["full"]["supports_merge"] is False
    assert rows["qlora"]["supports_zero3"] is False and rows["lora"]["supports_quantized"] is True
    assert rows["lora"]["option_fields"]["rank"]["default"] == 8
    assert rows["full"]["option_fields"] == {}
    assert main(["tuners"]) == 0
    out = capsys.readouterr().out
    assert "rank=8" in out and "13 tuners" in out and "2e-05" in out


class _Override:
    @ftcore.hookimpl
    def configure_tuner(self, model: Any, options: TunerOptions) -> Any:
        return ("overridden", model) if options.method == "full" else None


def test_configure_tuner_still_overrides(builtins_only: None) -> None:
    pm = plugins.get_plugin_manager()
    pm.add(_Override(), plugins.PluginInfo(name="override-test", dist="tests", version="0", module=__name__))
    model = SimpleNamespace(parameters=lambda: iter(()))
    assert pm.hook.configure_tuner(model=model, options=TunerOptions(method="full")) == ("overridden", model)
    # None from the override: the registered method's apply (full returns the model itself)
    pm.unregister(name="override-test")
    assert pm.hook.configure_tuner(model=model, options=TunerOptions(method="full")) is model
    assert apply_tuner(model, TunerOptions(method="full")) is model


def test_plugins_does_not_import_the_registry() -> None:
    """registry.py depends on plugins.py, never the other way round (imports inside functions included)."""
    tree = ast.parse((SRC / "plugins.py").read_text())
    imported = {
        alias.name if isinstance(node, ast.Import) else f"{node.module}.{alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    }
    assert not [m for m in imported if "registry" in m], imported


def test_catalog_follows_plugins_added_later(builtins_only: None) -> None:
    assert "extra-tuner" not in get_catalog().tuners

    class Extra:
        @ftcore.hookimpl
        def register_tuners(self, register):  # type: ignore[no-untyped-def]
            register(TunerSpec(name="extra-tuner", apply="ftcore.tuners.full:apply_full", default_lr=3e-5))

    pm = plugins.get_plugin_manager()
    pm.add(Extra(), plugins.PluginInfo(name="extra-test", dist="tests", version="0", module=__name__))
    assert get_tuner_spec("extra-tuner").default_lr == 3e-5
    pm.unregister(name="extra-test")
    assert "extra-tuner" not in get_catalog().tuners


def test_listing_imports_neither_peft_nor_torch() -> None:
    import subprocess

    code = (
        "import sys, contextlib, io\nfrom ftcore.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n    main(['tuners', '--json'])\n"
        "print(sorted(m for m in ('torch', 'peft', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
