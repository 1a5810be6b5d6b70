"""The plugin manager: discovery, broken plugins, check_pending, FTCORE_LOAD_PLUGINS, local plugin files.

Installed plugins are kept out: ``ftcore.plugins.entry_points`` is replaced by fake distributions whose entry
points load small local modules / classes.
"""

from __future__ import annotations

import json
import textwrap
import warnings
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

import ftcore
from ftcore import plugins
from ftcore.cli import main
from ftcore.errors import PluginError
from ftcore.plugins import FtcoreWarning, PluginInfo, get_plugin_manager, load_local_plugins, plugin_infos
from ftcore.registry import get_catalog


@dataclass
class FakeEntryPoint:
    """What ``importlib.metadata.entry_points(group="ftcore")`` yields, for a fake distribution."""

    name: str
    target: Any  # the object ``load()`` returns, or an exception it raises
    dist_name: str = "ftcore-fake"
    dist_version: str = "1.0.0"
    group: str = "ftcore"
    loads: list[str] = field(default_factory=list)

    @property
    def value(self) -> str:
        return f"fake_{self.name}"

    @property
    def dist(self) -> SimpleNamespace:
        return SimpleNamespace(name=self.dist_name, version=self.dist_version)

    def load(self) -> Any:
        self.loads.append(self.name)
        if isinstance(self.target, BaseException):
            raise self.target
        return self.target


@pytest.fixture
def fake_dists(monkeypatch: pytest.MonkeyPatch):
    """Install fake distributions: call it with entry points; the plugin manager is rebuilt around them."""
    monkeypatch.delenv(plugins.ENV_LOAD_PLUGINS, raising=False)
    installed: list[FakeEntryPoint] = []

    def fake_entry_points(group: str) -> list[FakeEntryPoint]:
        return [ep for ep in installed if ep.group == group]

    monkeypatch.setattr(plugins, "entry_points", fake_entry_points)

    def install(*eps: FakeEntryPoint) -> list[FakeEntryPoint]:
        installed.extend(eps)
        plugins.reset()
        return installed

    plugins.reset()
    try:
        yield install
    finally:
        plugins.reset()


class ModelPlugin:
    """A well-behaved plugin: one model, one template."""

    @ftcore.hookimpl
    def register_models(self, register):
        register(
            ftcore.ModelSpec(name="fake-7b-chat", hub={"huggingface": "fake/Fake-7B-Chat"}, template="fake")
        )

    @ftcore.hookimpl
    def register_templates(self, register):
        register(ftcore.TemplateSpec(name="fake", prompt=["Q: {{QUERY}}\nA: "], suffix=[["eos_token_id"]]))


class DatasetPlugin:
    @ftcore.hookimpl
    def register_datasets(self, register):
        register(ftcore.DatasetSpec(name="fake-data-en", hub={"huggingface": "fake/data"}, languages=["en"]))


class MisspelledPlugin:
    @ftcore.hookimpl
    def register_model(self, register):  # the hook is register_models
        raise AssertionError("never called")


class WrongArgumentPlugin:
    @ftcore.hookimpl
    def register_models(self, registry):  # the hook's argument is ``register``
        raise AssertionError("never called")


def test_builtins_only_without_installed_plugins(fake_dists):
    fake_dists()
    infos = plugin_infos(include_builtin=True)
    assert [i.name for i in infos] == list(plugins.BUILTIN_MODULES)
    assert all(i.builtin and i.dist == "ftcore" and i.version == ftcore.__version__ for i in infos)
    assert plugin_infos() == []


def test_discovery_registers_installed_plugins_after_builtins(fake_dists):
    fake_dists(
        FakeEntryPoint("fake", ModelPlugin(), "ftcore-fake", "1.2.3"),
        FakeEntryPoint("fakedata", DatasetPlugin(), "ftcore-fakedata", "0.1"),
    )
    infos = plugin_infos(include_builtin=True)
    assert [i.name for i in infos][-2:] == ["fake", "fakedata"]
    fake = infos[-2]
    assert (fake.dist, fake.version, fake.builtin, fake.error) == ("ftcore-fake", "1.2.3", False, None)
    assert fake.hooks == ["register_models", "register_templates"]
    catalog = get_catalog()
    spec = catalog.models.get("fake-7b-chat")
    assert spec.plugin == "ftcore-fake 1.2.3"
    assert catalog.owner("model", "fake-7b-chat") == "fake"
    assert catalog.owner("dataset", "fake-data-en") == "fakedata"
    assert catalog.owner("template", "chatml") == "ftcore.builtin.templates"
    assert catalog.errors == []


def test_loading_is_lazy_and_once(fake_dists):
    (ep,) = fake_dists(FakeEntryPoint("fake", ModelPlugin()))
    assert ep.loads == []  # nothing loaded until first use
    assert get_plugin_manager() is get_plugin_manager()
    get_catalog()
    get_catalog()
    assert ep.loads == ["fake"]


def test_plugin_failing_to_import_is_reported_and_others_keep_working(fake_dists):
    fake_dists(
        FakeEntryPoint(
            "broken", ModuleNotFoundError("No module named 'flash_attn'"), "ftcore-broken", "0.3.0"
        ),
        FakeEntryPoint("fake", ModelPlugin(), "ftcore-fake", "1.0.0"),
    )
    with pytest.warns(FtcoreWarning) as record:
        infos = {i.name: i for i in plugin_infos()}
    reason = "plugin ftcore-broken 0.3.0 failed to load: ModuleNotFoundError: No module named 'flash_attn'"
    assert [str(w.message) for w in record] == [reason]
    assert infos["broken"].error == reason
    assert infos["fake"].error is None
    assert "fake-7b-chat" in get_catalog().models


def test_broken_plugin_shown_by_the_cli(fake_dists, capsys):
    fake_dists(
        FakeEntryPoint(
            "broken", SyntaxError("invalid syntax (catalog.py, line 3)"), "ftcore-broken", "0.3.0"
        ),
        FakeEntryPoint("fake", ModelPlugin(), "ftcore-fake", "1.0.0"),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FtcoreWarning)
        assert main(["plugins", "--json"]) == 1  # a broken plugin: non-zero, so CI can run it as a check
        captured = capsys.readouterr()
        rows = {r["dist"]: r for r in json.loads(captured.out)}
        assert rows["ftcore-broken"]["error"] == (
            "plugin ftcore-broken 0.3.0 failed to load: SyntaxError: invalid syntax (catalog.py, line 3)"
        )
        assert rows["ftcore-broken"]["status"] == "failed to load"
        assert captured.err == f"error: {rows['ftcore-broken']['error']}\n"
        assert rows["ftcore-fake"]["registered"] == {
            "models": ["fake-7b-chat"],
            "templates": ["fake"],
            "datasets": [],
        }
        assert main(["plugins"]) == 1  # the table, with the status column; the error once, on stderr
        captured = capsys.readouterr()
        assert "ftcore-broken" in captured.out and "error:" not in captured.out
        assert captured.err == (
            "error: plugin ftcore-broken 0.3.0 failed to load: SyntaxError: invalid syntax (catalog.py, line 3)\n"
        )
        assert main(["models", "--json"]) == 0  # the catalog still lists
        assert "fake-7b-chat" in capsys.readouterr().out


def test_misspelled_hook_is_an_error_check_pending(fake_dists):
    fake_dists(
        FakeEntryPoint("typo", MisspelledPlugin(), "ftcore-typo", "2.0"),
        FakeEntryPoint("fake", ModelPlugin(), "ftcore-fake", "1.0.0"),
    )
    with pytest.warns(FtcoreWarning):
        infos = {i.name: i for i in plugin_infos()}
    assert infos["typo"].error.startswith(
        "plugin ftcore-typo 2.0 failed to load: unknown hook 'register_model' (did you mean register_models?)"
    )
    pm = get_plugin_manager()
    assert not pm.has_plugin("typo")  # unregistered again
    assert pm.has_plugin("fake")
    pm.check_pending()  # the rest is clean
    assert "fake-7b-chat" in get_catalog().models


def test_hook_with_wrong_arguments_is_an_error(fake_dists):
    fake_dists(FakeEntryPoint("wrongarg", WrongArgumentPlugin(), "ftcore-wrongarg", "1.0"))
    with pytest.warns(FtcoreWarning):
        (info,) = plugin_infos()
    assert info.error.startswith("plugin ftcore-wrongarg 1.0 failed to load: ")
    assert "registry" in info.error and "\n" not in info.error


def test_two_entry_points_with_one_name(fake_dists):
    fake_dists(
        FakeEntryPoint("same", ModelPlugin(), "ftcore-one", "1.0"),
        FakeEntryPoint("same", DatasetPlugin(), "ftcore-two", "2.0"),
    )
    with pytest.warns(FtcoreWarning, match="ftcore-two 2.0 failed to load: plugin name 'same' is taken"):
        infos = plugin_infos()
    assert [(i.dist, i.error is None) for i in infos] == [("ftcore-one", True), ("ftcore-two", False)]
    assert "already registered by ftcore-one 1.0" in infos[1].error


@pytest.mark.parametrize(
    ("value", "loaded"),
    [
        ("fake", ["fake"]),  # by entry-point name
        ("ftcore-fakedata", ["fakedata"]),  # by distribution name
        ("FTCORE_FAKEDATA", ["fakedata"]),  # compared as pip compares names
        ("fake, fakedata", ["fake", "fakedata"]),
        ("", []),  # empty: none
    ],
)
def test_ftcore_load_plugins_limits_loading(fake_dists, monkeypatch, value, loaded):
    eps = fake_dists(
        FakeEntryPoint("fake", ModelPlugin(), "ftcore-fake"),
        FakeEntryPoint("fakedata", DatasetPlugin(), "ftcore-fakedata"),
    )
    monkeypatch.setenv("FTCORE_LOAD_PLUGINS", value)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning for known names
        assert [i.name for i in plugin_infos()] == loaded
    assert sorted(name for ep in eps for name in ep.loads) == loaded  # the others are not even imported
    assert len(plugin_infos(include_builtin=True)) == len(plugins.BUILTIN_MODULES) + len(loaded)


def test_ftcore_load_plugins_warns_about_unknown_names(fake_dists, monkeypatch):
    fake_dists(FakeEntryPoint("fake", ModelPlugin(), "ftcore-fake"))
    monkeypatch.setenv("FTCORE_LOAD_PLUGINS", "fake,ftcore-qwenn")
    with pytest.warns(FtcoreWarning) as record:
        assert [i.name for i in plugin_infos()] == ["fake"]
    assert [str(w.message) for w in record] == [
        "FTCORE_LOAD_PLUGINS names plugins that are not installed: ftcore-qwenn; installed: fake (ftcore-fake)"
    ]


def test_ftcore_load_plugins_warning_through_the_cli(fake_dists, monkeypatch, capsys):
    fake_dists(FakeEntryPoint("fake", ModelPlugin(), "ftcore-fake"))
    monkeypatch.setenv("FTCORE_LOAD_PLUGINS", "nope")
    assert main(["plugins"]) == 0
    captured = capsys.readouterr()
    assert "no plugins loaded" in captured.out
    assert captured.err.splitlines() == [
        "warning: FTCORE_LOAD_PLUGINS names plugins that are not installed: nope; installed: fake (ftcore-fake)"
    ]


# ---------------------------------------------------------------------------------------------------------
# A local plugin class registered by a fixture (the pytest / datasette habit)


class LocalTemplates:
    @ftcore.hookimpl
    def register_templates(self, register):
        register(ftcore.TemplateSpec(name="local-test", prompt=["<q>{{QUERY}}</q>"], suffix=["</a>"]))


@pytest.fixture
def local_plugin(fake_dists):
    """Register ``LocalTemplates`` under a fixed name on the live manager; unregister in finally."""
    fake_dists()
    pm = get_plugin_manager()
    pm.add(LocalTemplates(), PluginInfo(name="local-test-plugin", dist="tests", version="0", module=__name__))
    from ftcore import registry

    registry.reset()
    try:
        yield pm
    finally:
        pm.unregister(name="local-test-plugin")
        pm.infos.pop("local-test-plugin", None)
        registry.reset()


def test_local_plugin_class_through_the_manager(local_plugin):
    assert "local-test" in get_catalog().templates
    assert get_catalog().owner("template", "local-test") == "local-test-plugin"
    info = local_plugin.infos["local-test-plugin"]
    assert info.hooks == ["register_templates"]


def test_registering_one_name_twice_on_the_manager_is_refused(local_plugin):
    with pytest.raises(PluginError, match="plugin name 'local-test-plugin' is taken"):
        local_plugin.add(
            LocalTemplates(), PluginInfo(name="local-test-plugin", dist="x", version="1", module="x")
        )


# ---------------------------------------------------------------------------------------------------------
# Local plugin files named in run.toml (ms-swift's custom.py workflow)

CUSTOM_PY = """
import ftcore

@ftcore.hookimpl
def register_models(register):
    register(ftcore.ModelSpec(name="custom-13b-chat", hub={"modelscope": "Org/Custom-13B-Chat"},
                              template="custom", lora_targets=["q_proj", "v_proj"]))

@ftcore.hookimpl
def register_templates(register):
    register(ftcore.TemplateSpec(name="custom", prompt=["### Q:\\n{{QUERY}}\\n### A:\\n"], suffix=[["eos_token_id"]]))
"""


def test_local_plugin_file(fake_dists, tmp_path):
    fake_dists()
    (tmp_path / "custom.py").write_text(CUSTOM_PY)
    names = load_local_plugins(["./custom.py"], tmp_path)
    assert names == [f"local:{(tmp_path / 'custom.py').resolve()}"]
    catalog = get_catalog()
    assert catalog.models.get("custom-13b-chat").plugin == "./custom.py (local file)"
    assert catalog.templates.get("custom").prompt == ["### Q:\n{{QUERY}}\n### A:\n"]
    infos = [i for i in plugin_infos() if i.local]
    assert [(i.dist, i.hooks) for i in infos] == [("./custom.py", ["register_models", "register_templates"])]
    assert load_local_plugins(["custom.py"], tmp_path) == names  # twice: loaded once


def test_local_plugin_file_named_in_run_toml_validates(fake_dists, tmp_path, capsys):
    fake_dists()
    (tmp_path / "custom.py").write_text(CUSTOM_PY)
    (tmp_path / "data.jsonl").write_text('{"query": "hi", "response": "hello"}\n')
    run = tmp_path / "run.toml"
    run.write_text(
        'plugins = ["custom.py"]\n[model]\nname = "custom-13b-chat"\n[data]\ndatasets = ["data.jsonl"]\n'
    )
    assert main(["validate", str(run)]) == 0
    assert capsys.readouterr().out.strip() == f"{run}: ok"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "plugin file ./custom.py not found (looked at "),
        ("import ftcore\ndef broken(:\n", "plugin file ./custom.py failed to load: SyntaxError: "),
        ("import not_installed_xyz\n", "plugin file ./custom.py failed to load: ModuleNotFoundError: "),
        (
            "import ftcore\n@ftcore.hookimpl\ndef register_template(register):\n    pass\n",
            "plugin ./custom.py (local file) failed to load: unknown hook 'register_template' "
            "(did you mean register_templates?)",
        ),
    ],
    ids=["missing", "syntax-error", "import-error", "misspelled-hook"],
)
def test_local_plugin_file_errors(fake_dists, tmp_path, content, message):
    fake_dists()
    if content is not None:
        (tmp_path / "custom.py").write_text(textwrap.dedent(content))
    with pytest.raises(PluginError) as info:
        load_local_plugins(["./custom.py"], tmp_path)
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)
    assert not [i for i in plugin_infos() if i.local]


# ---------------------------------------------------------------------------------------------------------
# The example plugin of docs/plugins.md, installed for real (pip, offline) and exercised by its own tests


@pytest.mark.slow
def test_example_plugin_installs_and_passes_its_own_tests(tmp_path):
    """pip-install examples/plugin/ftcore-tigerbot into a private folder and run its tests against it."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    source = tmp_path / "ftcore-tigerbot"  # a copy: the build leaves build/ and *.egg-info behind
    shutil.copytree(root / "examples" / "plugin" / "ftcore-tigerbot", source)
    site = tmp_path / "site"
    pip = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
    ]
    subprocess.run([*pip, "--target", str(site), str(source)], check=True, capture_output=True, text=True)
    assert (site / "ftcore_tigerbot-0.1.0.dist-info" / "entry_points.txt").read_text().split() == [
        "[ftcore]",
        "tigerbot",
        "=",
        "ftcore_tigerbot",
    ]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])),
    }
    env.pop("FTCORE_LOAD_PLUGINS", None)
    tests = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(root / "examples/plugin/ftcore-tigerbot/tests"),
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    assert "3 passed" in tests.stdout
