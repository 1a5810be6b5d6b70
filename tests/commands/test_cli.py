"""The ``ftcore`` command shell: --version, --help, plugins, catalog listings with filters, config schema."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import ftcore
from ftcore import plugins
from ftcore.cli import main


@pytest.fixture
def builtins_only(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(plugins.ENV_LOAD_PLUGINS, "")
    plugins.reset()
    yield
    plugins.reset()


def run_json(capsys, *argv: str):  # type: ignore[no-untyped-def]
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_version_and_help_through_the_console_script():
    env = {**os.environ, "FTCORE_LOAD_PLUGINS": ""}
    version = subprocess.run(
        [sys.executable, "-m", "ftcore", "--version"], capture_output=True, text=True, env=env
    )
    assert (version.returncode, version.stdout) == (0, f"ftcore {ftcore.__version__}\n")
    help_ = subprocess.run(
        [sys.executable, "-m", "ftcore", "--help"], capture_output=True, text=True, env=env
    )
    assert help_.returncode == 0
    for command in ("plugins", "models", "templates", "datasets", "validate", "config"):
        assert command in help_.stdout


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    assert "usage: ftcore" in capsys.readouterr().out


def test_unknown_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["trian"])
    assert info.value.code == 2
    assert "invalid choice: 'trian'" in capsys.readouterr().err


def test_plugins_all_json_lists_the_builtins(builtins_only, capsys):
    rows = run_json(capsys, "plugins", "--all", "--json")
    assert [r["name"] for r in rows] == list(plugins.BUILTIN_MODULES)
    by_name = {r["name"]: r for r in rows}
    models = by_name["ftcore.builtin.models"]
    assert (models["dist"], models["version"], models["builtin"], models["error"]) == (
        "ftcore",
        ftcore.__version__,
        True,
        None,
    )
    assert models["hooks"] == ["load_model", "register_models"]
    assert models["registered"]["models"] == ["ftcore-tiny-qwen2"]
    assert "chatml" in by_name["ftcore.builtin.templates"]["registered"]["templates"]
    assert by_name["ftcore.builtin.tuners"]["registered"] == {"models": [], "templates": [], "datasets": []}
    assert run_json(capsys, "plugins", "--json") == []  # without --all: installed plugins only


def test_plugins_table(builtins_only, capsys):
    assert main(["plugins", "--all"]) == 0
    out = capsys.readouterr().out
    assert "ftcore (models)" in out and "register_models" in out and "1 model" in out


@pytest.mark.parametrize("kind", ["models", "templates", "datasets"])
def test_catalog_json_carries_the_owning_plugin(builtins_only, capsys, kind):
    entries = run_json(capsys, kind, "--json")
    assert entries
    assert all(e["plugin"] == f"ftcore {ftcore.__version__}" for e in entries)
    assert all({"name", "tags", "description"} <= set(e) for e in entries)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["models", "--tag", "quickstart"], ["ftcore-tiny-qwen2"]),
        (["models", "--tag", "nope"], []),
        (["models", "--template", "chatml"], ["ftcore-tiny-qwen2"]),
        (["models", "--plugin", "ftcore"], ["ftcore-tiny-qwen2"]),
        (["models", "--plugin", "ftcore.builtin.models"], ["ftcore-tiny-qwen2"]),
        (["models", "--plugin", "ftcore-qwen"], []),
        (["models", "--search", "TINY"], ["ftcore-tiny-qwen2"]),
        (["templates", "--search", "chatml"], ["chatml"]),
        (["datasets", "--task", "chat", "--language", "zh"], ["self-cognition-mini"]),
        (["datasets", "--language", "fr"], []),
    ],
)
def test_catalog_filters(builtins_only, capsys, argv, expected):
    assert [e["name"] for e in run_json(capsys, *argv, "--json")] == expected


def test_catalog_table_for_people(builtins_only, capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "ftcore-tiny-qwen2" in out and "plugin" in out and out.rstrip().endswith("1 model")
    assert main(["datasets"]) == 0
    assert "self-cognition-mini" in capsys.readouterr().out
    assert main(["templates"]) == 0  # descriptions such as "[INST] … [/INST]" are text, not rich markup
    out = capsys.readouterr().out
    assert "chatml" in out and "templates" in out.splitlines()[-1]


def test_config_schema(capsys):
    schema = run_json(capsys, "config", "schema")
    assert schema["title"] == "ftcore run.toml"
    assert "train" in schema["properties"]
    train = schema["$defs"]["TrainConfig"]["properties"]
    assert train["grad_accum"]["default"] == 16
    assert "gradient_accumulation_steps" in train["grad_accum"]["description"]


def test_config_needs_an_action(capsys):
    with pytest.raises(SystemExit):
        main(["config"])


def test_config_show_prints_the_resolved_file(tmp_path, capsys):
    run = tmp_path / "run.toml"
    run.write_text('[model]\nname = "ftcore-tiny-qwen2"\n[hub]\ntoken = "hf_secret"\n')
    assert main(["config", "show", str(run), "--set", "train.lr=1e-4"]) == 0
    out = capsys.readouterr().out
    assert "lr = 0.0001" in out and "grad_accum = 16" in out and 'name = "ftcore-tiny-qwen2"' in out
    assert "hf_secret" not in out
    (tmp_path / "resolved.toml").write_text(out)
    assert main(["validate", str(tmp_path / "resolved.toml")]) in (0, 2)  # it parses as a run file again
    assert "unknown key" not in capsys.readouterr().err
