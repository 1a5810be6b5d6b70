"""The catalog: duplicate names across plugins, ``extends``, validation messages naming the plugin."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any

import pytest

import ftcore
from ftcore import plugins
from ftcore.cli import main
from ftcore.errors import FtcoreError, PluginError
from ftcore.registry import Catalog, get_catalog, get_model_spec, get_template_spec
from ftcore.specs import DatasetSpec, ModelSpec, TemplateSpec, spec_to_dict


class FakeEntryPoint:
    def __init__(self, name: str, plugin: Any, dist: str, version: str = "1.0"):
        self.name, self.value, self.group = name, f"fake_{name}", "ftcore"
        self.dist = SimpleNamespace(name=dist, version=version)
        self._plugin = plugin

    def load(self) -> Any:
        return self._plugin


@pytest.fixture
def install(monkeypatch: pytest.MonkeyPatch):
    """``install(ep, …)``: these fake distributions are all that is installed; the catalog is rebuilt."""
    monkeypatch.delenv(plugins.ENV_LOAD_PLUGINS, raising=False)
    eps: list[FakeEntryPoint] = []
    monkeypatch.setattr(plugins, "entry_points", lambda group: list(eps))

    def _install(*new: FakeEntryPoint) -> None:
        eps.extend(new)
        plugins.reset()

    plugins.reset()
    try:
        yield _install
    finally:
        plugins.reset()


def registering(kind: str, *specs: Any) -> object:
    """A plugin object whose ``register_<kind>s`` registers ``specs``."""

    class Plugin:
        pass

    def hook(self, register):  # type: ignore[no-untyped-def]
        for spec in specs:
            register(spec)

    hook.__name__ = f"register_{kind}s"
    setattr(Plugin, hook.__name__, ftcore.hookimpl(hook))
    return Plugin()


def model(name: str, **kw: Any) -> ModelSpec:
    kw.setdefault("hub", {"huggingface": f"org/{name}"})
    return ModelSpec(name=name, **kw)


def test_duplicate_model_names_across_plugins_name_both_distributions(install):
    install(
        FakeEntryPoint("a", registering("model", model("dup-7b"), model("only-a")), "ftcore-a", "1.0"),
        FakeEntryPoint("b", registering("model", model("dup-7b"), model("only-b")), "ftcore-b", "2.0"),
    )
    catalog = get_catalog()
    message = (
        "model 'dup-7b' is registered by both ftcore-a 1.0 and ftcore-b 2.0; uninstall one of them "
        "(or set FTCORE_LOAD_PLUGINS), or register the new one under another name with extends='dup-7b'"
    )
    assert catalog.errors == [message]
    with pytest.raises(PluginError) as info:
        get_model_spec("dup-7b")  # no silent override: the name is unusable
    assert str(info.value) == message
    assert "dup-7b" not in catalog.models.names()  # no auto-rename either
    assert sorted(catalog.models.names())[-2:] == ["only-a", "only-b"]  # the rest keeps working


def test_duplicate_of_a_builtin_template(install):
    chatml = TemplateSpec(name="chatml", prompt=["{{QUERY}}"])
    install(FakeEntryPoint("t", registering("template", chatml), "ftcore-t", "0.2"))
    assert get_catalog().errors == [
        "template 'chatml' is registered by both ftcore 0.1.0 and ftcore-t 0.2; uninstall one of them "
        "(or set FTCORE_LOAD_PLUGINS), or register the new one under another name with extends='chatml'"
    ]


def test_same_plugin_registering_a_name_twice(install):
    install(
        FakeEntryPoint("a", registering("dataset", *[DatasetSpec(name="d", path="x.jsonl")] * 2), "ftcore-a")
    )
    assert get_catalog().errors[0].startswith("dataset 'd' is registered twice by ftcore-a 1.0;")


def test_duplicates_shown_by_validate(install, tmp_path, capsys):
    install(
        FakeEntryPoint("a", registering("model", model("dup-7b")), "ftcore-a", "1.0"),
        FakeEntryPoint("b", registering("model", model("dup-7b")), "ftcore-b", "2.0"),
    )
    run = tmp_path / "run.toml"
    run.write_text('[model]\nname = "dup-7b"\n[data]\ndatasets = ["self-cognition-mini"]\n')
    assert main(["validate", str(run)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(
        f"error: {run}: model.name: model 'dup-7b' is registered by both ftcore-a 1.0 and ftcore-b 2.0"
    )


def test_extends_inherits_unset_fields_under_a_new_name(install):
    base = model(
        "base-7b-chat",
        template="chatml",
        lora_targets=["c_attn"],
        requires=["transformers>=4.40"],
        tags=["chat"],
        max_length=8192,
    )
    long = ModelSpec(name="base-7b-chat-32k", extends="base-7b-chat", max_length=32768, tags=["chat", "long"])
    longer = ModelSpec(name="base-7b-chat-128k", extends="base-7b-chat-32k", max_length=131072)
    install(
        FakeEntryPoint("base", registering("model", base), "ftcore-base"),
        # registered before its base exists: order does not matter; chains resolve
        FakeEntryPoint("aaa", registering("model", longer, long), "ftcore-long"),
    )
    catalog = get_catalog()
    assert catalog.errors == []
    spec = get_model_spec("base-7b-chat-128k")
    assert (spec.hub, spec.template, spec.lora_targets, spec.requires) == (
        base.hub,
        "chatml",
        ["c_attn"],
        ["transformers>=4.40"],
    )
    assert spec.max_length == 131072 and spec.tags == ["chat", "long"]
    assert spec.plugin == "ftcore-long 1.0" and spec.extends == "base-7b-chat-32k"
    assert get_model_spec("base-7b-chat").max_length == 8192  # the base is untouched
    spec.lora_targets.append("x")
    assert get_model_spec("base-7b-chat").lora_targets == ["c_attn"]  # no shared lists


def test_extends_for_templates_and_datasets(install):
    tpl = TemplateSpec(name="chatml-terse", extends="chatml", system="Answer in one word.")
    data = DatasetSpec(name="data-zh", extends="self-cognition-mini", languages=["zh"])
    install(
        FakeEntryPoint("t", registering("template", tpl), "ftcore-t"),
        FakeEntryPoint("d", registering("dataset", data), "ftcore-d"),
    )
    assert get_catalog().errors == []
    terse = get_template_spec("chatml-terse")
    assert terse.prompt == get_template_spec("chatml").prompt and terse.system == "Answer in one word."
    assert (
        get_catalog().datasets.get("data-zh").path == get_catalog().datasets.get("self-cognition-mini").path
    )


@pytest.mark.parametrize(
    ("specs", "error"),
    [
        (
            [ModelSpec(name="x-long", extends="qwen-7b-chta")],
            "plugin ftcore-x 1.0: model 'x-long' extends unknown model 'qwen-7b-chta'",
        ),
        ([ModelSpec(name="loop", extends="loop")], "plugin ftcore-x 1.0: model 'loop' extends itself"),
        (
            [ModelSpec(name="a", extends="b"), ModelSpec(name="b", extends="a")],
            "plugin ftcore-x 1.0: model 'b': extends forms a cycle (a -> b -> a)",
        ),
    ],
    ids=["unknown", "itself", "cycle"],
)
def test_extends_errors(install, specs, error):
    install(FakeEntryPoint("x", registering("model", *specs), "ftcore-x"))
    catalog = get_catalog()
    assert catalog.errors[0].startswith(error)
    assert all(s.name not in catalog.models for s in specs)


@pytest.mark.parametrize(
    ("kind", "spec", "error"),
    [
        (
            "model",
            ModelSpec(name="Qwen 7B", hub={"huggingface": "q"}),
            "model name 'Qwen 7B' must be lower-case",
        ),
        (
            "model",
            ModelSpec(name="nohub"),
            "model 'nohub': give hub ids (hub={'huggingface': ...}), a local path or a build function",
        ),
        (
            "model",
            ModelSpec(name="m", hub="Qwen/Qwen-7B"),
            "model 'm': hub must be dict (got 'Qwen/Qwen-7B')",
        ),
        ("model", ModelSpec(name="m", hub={"github": "x"}), "model 'm': unknown hub 'github'"),
        (
            "model",
            ModelSpec(name="m", path="/x", dtype="bfloat16"),
            "model 'm': dtype must be bf16, fp16 or fp32",
        ),
        ("template", TemplateSpec(name="t"), "template 't': prompt must not be empty"),
        (
            "template",
            TemplateSpec(name="t", prompt=[3]),
            "template 't': prompt item 3 is neither a string nor",
        ),
        ("dataset", DatasetSpec(name="d"), "dataset 'd': give hub ids, a local path or a get function"),
        (
            "dataset",
            DatasetSpec(name="d", path="x", preprocess=5),
            "dataset 'd': preprocess must be callable",
        ),
        ("model", TemplateSpec(name="t", prompt=["x"]), "register_models: register() got TemplateSpec"),
    ],
)
def test_registration_validation_names_the_plugin(install, kind, spec, error):
    install(FakeEntryPoint("bad", registering(kind, spec), "ftcore-bad", "0.9"))
    assert get_catalog().errors[0].startswith(f"plugin ftcore-bad 0.9: {error}")


def test_a_register_hook_that_raises_is_reported(install):
    class Raising:
        @ftcore.hookimpl
        def register_datasets(self, register):
            raise KeyError("subset")

    install(FakeEntryPoint("r", Raising(), "ftcore-r", "3"))
    assert get_catalog().errors == ["plugin ftcore-r 3: register_datasets failed: KeyError: 'subset'"]
    assert "self-cognition-mini" in get_catalog().datasets


def test_unknown_name_suggests_close_ones(install):
    install()
    with pytest.raises(
        FtcoreError, match=r"unknown model 'ftcore-tiny-qwen' \(did you mean ftcore-tiny-qwen2\?\)"
    ):
        get_model_spec("ftcore-tiny-qwen")
    with pytest.raises(FtcoreError, match=r"unknown template 'zzz' \(see: ftcore templates\)"):
        get_template_spec("zzz")


def test_catalog_copies_specs_and_fills_plugin():
    spec = model("m")
    catalog = Catalog()
    catalog.add("model", spec, "ftcore-x 1.0", "x")
    assert spec.plugin == "" and catalog.models.get("m").plugin == "ftcore-x 1.0"
    assert catalog.owner("model", "m") == "x"


def test_specs_carry_every_seed_registration_field():
    """ms-swift's register_model / register_template / register_dataset."""
    model_fields = {f.name for f in dataclasses.fields(ModelSpec)}
    seed_model = {
        "model_type": "name",
        "model_id_or_path": "hub",  # or path
        "lora_target_modules": "lora_targets",
        "template": "template",
        "get_function": "loader",
        "requires": "requires",
        "torch_dtype": "dtype",
        "automodel_class": "auto_class",
        "revision": "revision",
        "ignore_file_pattern": "ignore_patterns",
        "max_length": "max_length",
        "function_kwargs": "loader_kwargs",
        "**kwargs": "extra",
    }
    assert set(seed_model.values()) | {"path", "tags", "trust_remote_code"} <= model_fields
    template_fields = {f.name for f in dataclasses.fields(TemplateSpec)}
    assert {
        "name",
        "prefix",
        "prompt",
        "chat_sep",
        "suffix",
        "system",
        "stop_words",
        "tags",
    } <= template_fields
    dataset_fields = {f.name for f in dataclasses.fields(DatasetSpec)}
    seed_dataset = {
        "dataset_name": "name",
        "dataset_id": "hub",
        "train_subset_split_list": "train",
        "val_subset_split_list": "validation",
        "preprocess_func": "preprocess",
        "get_function": "get",
        "task": "task",
        "function_kwargs": "get_kwargs",
        "**kwargs": "extra",
    }
    assert set(seed_dataset.values()) | {"tags", "languages"} <= dataset_fields
    assert (
        TemplateSpec(name="single", prompt=["{{QUERY}}"], chat_sep=None).problems() == []
    )  # None = single turn
    assert "loader" in spec_to_dict(model("m", loader=print)) and spec_to_dict(model("m", loader=print))[
        "loader"
    ].endswith("print")


def test_a_missing_first_party_plugin_is_named_with_the_pip_command(monkeypatch):
    from ftcore import registry

    monkeypatch.setattr(registry, "_installed", lambda dist: dist not in ("ftcore-qwen", "ftcore-x"))
    assert registry.missing_provider("model", "qwen2.5-7b-instruct") == (
        "plugin ftcore-qwen provides it and is not installed: pip install ftcore-qwen"
    )
    assert registry.missing_provider("model", "mistral-7b") is None
    recorded = {"name": "x", "plugin": "ftcore-x", "version": "0.2.0"}
    assert registry.missing_provider("model", "x", recorded) == (
        "trained with plugin ftcore-x 0.2.0, which is not installed: pip install ftcore-x==0.2.0"
    )


def test_paths_accept_path_objects():
    from pathlib import Path

    from ftcore.specs import DatasetOptions, DatasetSpec, ModelOptions, ModelSpec

    assert ModelSpec(name="m", path=Path("/tmp/m")).path == "/tmp/m"
    spec = DatasetSpec(name="d", path=Path("/tmp/d.jsonl"), data_files=[Path("a.jsonl")])
    assert (spec.path, spec.data_files, spec.problems()) == ("/tmp/d.jsonl", ["a.jsonl"], [])
    assert ModelOptions(model_dir=Path("/tmp/m")).model_dir == "/tmp/m"
    assert DatasetOptions(cache_dir=Path("/tmp/c")).cache_dir == "/tmp/c"
