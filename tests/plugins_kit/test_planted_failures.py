"""Issue 16's checks: ftcore-kitllama (a third-party plugin written from the docs only, in ftcore-kitllama/) with
each failure an author met planted once (``FTCORE_KITLLAMA_PLANT``), and the one line ftcore prints for it."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ftcore import plugins, registry
from ftcore.cli import main

KIT = Path(__file__).parent / "ftcore-kitllama"
PLUGIN_FILE = KIT / "src" / "ftcore_kitllama" / "__init__.py"
LABEL = "ftcore-kitllama 0.1.0"
ROOT = Path(__file__).resolve().parents[2]


class KitEntryPoint:
    """The kit's entry point as ``importlib.metadata`` would give it; ``load()`` imports the plugin afresh."""

    name, value, group = "kitllama", "ftcore_kitllama", "ftcore"
    dist = SimpleNamespace(name="ftcore-kitllama", version="0.1.0")

    def load(self) -> Any:
        sys.modules.pop("ftcore_kitllama", None)
        spec = importlib.util.spec_from_file_location("ftcore_kitllama", PLUGIN_FILE)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["ftcore_kitllama"] = module
        spec.loader.exec_module(module)
        return module


@pytest.fixture
def kit(monkeypatch):
    """Install the kit (``kit("load_model")`` plants that failure; ``kit(None)`` installs it intact)."""
    monkeypatch.delenv(plugins.ENV_LOAD_PLUGINS, raising=False)
    monkeypatch.delenv("FTCORE_DEBUG", raising=False)
    installed: list[Any] = []
    monkeypatch.setattr(plugins, "entry_points", lambda group: installed if group == "ftcore" else [])

    def install(plant: str | None = None) -> None:
        monkeypatch.setenv("FTCORE_KITLLAMA_PLANT", plant or "")
        installed[:] = [KitEntryPoint()]
        plugins.reset()
        registry.reset()

    def uninstall() -> None:
        installed.clear()
        plugins.reset()
        registry.reset()

    install.uninstall = uninstall  # type: ignore[attr-defined]
    yield install
    plugins.reset()
    registry.reset()
    sys.modules.pop("ftcore_kitllama", None)


def run_toml(folder: Path, **model: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "run.toml"
    path.write_text(
        '[model]\nname = "kitllama-tiny"\n[data]\ndatasets = ["kitllama-greetings"]\n'
        f'[output]\ndir = "{folder / "out"}"\n[train]\nmax_steps = 2\nbatch_size = 2\n'
        "dataloader_num_workers = 0\n",
        encoding="utf-8",
    )
    return path


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


# 1. a hook that raises is one line naming the plugin; FTCORE_DEBUG=1 shows the plugin's traceback
def test_load_model_failure_is_one_line(kit, tmp_path, capsys, monkeypatch):
    kit("load_model")
    status, _, err = cli(capsys, "train", str(run_toml(tmp_path)))
    line = f"error: plugin {LABEL}: load_model failed: RuntimeError: planted: the kitllama loader broke"
    assert (status, err.splitlines()[-1]) == (2, line)
    assert "Traceback" not in err and "pluggy" not in err
    monkeypatch.setenv("FTCORE_DEBUG", "1")
    status, _, err = cli(capsys, "train", str(run_toml(tmp_path)))
    assert status == 2 and "Traceback (most recent call last)" in err
    assert str(PLUGIN_FILE) in err and err.splitlines()[-1] == line
    assert "PluginHookError" not in err  # the plugin's exception, not ftcore's wrapper


# 2. a failed register hook: status error, JSON error, exit 1
def test_register_failure_marks_the_plugin_broken(kit, capsys):
    kit("register_models")
    line = f"plugin {LABEL}: register_models failed: KeyError: 'planted'"
    status, out, err = cli(capsys, "plugins", "--json")
    row = {r["dist"]: r for r in json.loads(out)}["ftcore-kitllama"]
    assert (status, row["status"], row["error"], err) == (1, "error", line, f"error: {line}\n")
    assert row["registered"]["templates"] == ["kitllama"]  # the other hooks still registered
    from ftcore.testing import check_plugin

    report = check_plugin("ftcore-kitllama", train="none", raise_on_problems=False)
    assert line in report.plugin_problems  # the conformance kit's own check fails too


# 3. FTCORE_DEBUG=1: the import failure's traceback; a local plugin file's, not the ConfigError's
def test_debug_shows_the_original_exception(kit, tmp_path, capsys, monkeypatch):
    kit("import")
    monkeypatch.setenv("FTCORE_DEBUG", "1")
    status, _, err = cli(capsys, "plugins")
    assert status == 1 and "Traceback" in err and str(PLUGIN_FILE) in err and "ImportError: planted" in err
    kit(None)
    (tmp_path / "custom.py").write_text("import ftcore\n1 / 0\n", encoding="utf-8")
    (tmp_path / "run.toml").write_text('plugins = ["./custom.py"]\n[model]\nname = "kitllama-tiny"\n'
                                       '[data]\ndatasets = ["kitllama-greetings"]\n', encoding="utf-8")
    status, _, err = cli(capsys, "validate", str(tmp_path / "run.toml"))
    assert status == 2 and str(tmp_path / "custom.py") in err and "ZeroDivisionError" in err
    assert "ConfigError" not in err
    assert err.splitlines()[-1].endswith("plugins[0]: plugin file ./custom.py failed to load: "
                                         "ZeroDivisionError: division by zero")


# 4. one channel, one format: an import failure is printed once, on stderr, as error:
def test_plugins_prints_problems_once_on_stderr(kit, capsys):
    kit("import")
    status, out, err = cli(capsys, "plugins")
    assert status == 1 and "error:" not in out and "warning:" not in out
    assert err == (f"error: plugin {LABEL} failed to load: ImportError: planted: kitllama needs a library that "
                   "is not installed\n")
    kit("register_models")
    status, out, err = cli(capsys, "models")  # a listing command: the table on stdout, the problem on stderr
    assert status == 0 and "error:" not in out
    assert err == f"error: plugin {LABEL}: register_models failed: KeyError: 'planted'\n"


def _fake_run(kit, tmp_path: Path) -> Path:
    """A run folder as ``ftcore train`` leaves it (run.toml, manifest.json, an adapter checkpoint)."""
    from ftcore.config import load_config
    from ftcore.registry import get_catalog
    from ftcore.training.manifest import providers

    kit(None)
    run = tmp_path / "run"
    cfg = load_config(run_toml(run))
    manifest = {"provided_by": providers(cfg, get_catalog().models.get("kitllama-tiny"))}
    (run / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    ckpt = run / "checkpoint-2"
    ckpt.mkdir()
    shutil.copy(run / "run.toml", ckpt / "ftcore_run.toml")
    (ckpt / "adapter_config.json").write_text("{}", encoding="utf-8")
    kit.uninstall()
    return ckpt


# 5. a checkpoint of a plugin that is no longer installed: which plugin and version to pip install
def test_checkpoint_of_an_uninstalled_plugin(kit, tmp_path, capsys):
    ckpt = _fake_run(kit, tmp_path)
    hint = "trained with plugin ftcore-kitllama 0.1.0, which is not installed: pip install ftcore-kitllama==0.1.0"
    status, _, err = cli(capsys, "infer", str(ckpt), "--query", "hi")
    assert status == 2 and f"unknown model 'kitllama-tiny': {hint}" in err and len(err.splitlines()) <= 3
    status, _, err = cli(capsys, "validate", str(ckpt.parent / "run.toml"))
    assert f"run.toml: model.name: unknown model 'kitllama-tiny': {hint}" in err
    assert f"data.datasets[0]: unknown dataset 'kitllama-greetings': {hint}" in err


# 6. a builder returning pathlib.Path: the model folder resolves, the conformance kit loads it
def test_builder_returning_a_path(kit, tmp_path):
    from ftcore.config import load_config
    from ftcore.models import resolve_model
    from ftcore.testing import check_plugin

    kit(None)
    spec, folder = resolve_model(load_config(run_toml(tmp_path)))
    assert isinstance(folder, str) and Path(folder, "config.json").is_file()
    module = sys.modules["ftcore_kitllama"]
    report = check_plugin("ftcore-kitllama", tiny_models={"kitllama-*": module.build_tiny_llama}, train="none",
                          work_dir=tmp_path / "conformance", raise_on_problems=False)
    assert report.problems == [] and report.models[0].exercised == "targets"


def _pip_install(tmp_path: Path) -> Path:
    """pip-install a copy of the kit (offline) into ``tmp_path/site``; the copy is ``tmp_path/kit``."""
    site = tmp_path / "site"
    shutil.copytree(KIT, tmp_path / "kit")  # a copy: the build leaves build/ and *.egg-info behind
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(site), str(tmp_path / "kit")], check=True, capture_output=True)
    return site


# 7. the kit's own tests run with ftcore's pytest plugin and no conftest (slow marker, fixtures, guard)
@pytest.mark.slow
def test_kit_tests_need_no_conftest(tmp_path):
    site = _pip_install(tmp_path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))}
    env.pop("FTCORE_LOAD_PLUGINS", None)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "ftcore.testing.pytest_plugin",
         "--strict-markers", "-W", "error::pytest.PytestUnknownMarkWarning", "--rootdir", str(tmp_path / "kit"),
         str(tmp_path / "kit" / "tests")],
        cwd=tmp_path / "kit", env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0 and "2 passed" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-2000:]


# 8. every field the kit sets is documented in docs/specs.md
def test_fields_used_are_in_specs_md():
    import re

    doc = (ROOT / "docs" / "specs.md").read_text(encoding="utf-8")
    used = set(re.findall(r"^\s+(\w+)=", PLUGIN_FILE.read_text(encoding="utf-8"), re.M))
    assert {"build", "path", "prompt", "chat_sep"} <= used
    assert not [f for f in used if f"| `{f}` |" not in doc]


# 9. template show says one thing about the system prompt, and renders a sample with --model
def test_template_show(kit, tmp_path, capsys):
    from ftcore.testing import build_tiny_model_dir

    kit(None)
    status, out, _ = cli(capsys, "template", "show", "kitllama")
    assert status == 0 and "system: no {{SYSTEM}} slot" in out and "default system" not in out
    folder = build_tiny_model_dir(tmp_path / "tiny", "llama")
    status, out, _ = cli(capsys, "template", "show", "kitllama", "--model", folder, "--color", "never")
    assert status == 0 and "### User:\nAnd 2+2?\n### Assistant:\n[[4" in out


# 10. datasets show previews a local-file dataset's own rows, numbered from 1
def test_datasets_show(kit, capsys):
    kit(None)
    status, out, _ = cli(capsys, "datasets", "show", "kitllama-greetings", "--rows", "2")
    assert status == 0 and "--- row 1\n" in out and "--- row 2\n" in out and "--- row 0" not in out
    assert '"content": "hello"' in out


# 11. a real train: no transformers FutureWarning, each line once; then the plugin goes and infer names it
@pytest.mark.slow
def test_train_prints_each_line_once_and_infer_names_the_missing_plugin(tmp_path):
    site = _pip_install(tmp_path)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query": "q", "response": "r"}\n{"nothing": 1}\n' * 3, encoding="utf-8")
    run = run_toml(tmp_path)
    run.write_text(run.read_text().replace('["kitllama-greetings"]', f'["kitllama-greetings", "{bad}"]')
                   + "gradient_checkpointing = true\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])),
           "PYTHONWARNINGS": "default"}
    env.pop("FTCORE_LOAD_PLUGINS", None)
    proc = subprocess.run([sys.executable, "-m", "ftcore", "train", str(run)], env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    lines = (proc.stdout + proc.stderr).splitlines()
    assert "FutureWarning" not in proc.stderr
    assert sum("best checkpoint:" in line for line in lines) == 1
    bad_lines = [line for line in lines if "bad.jsonl" in line and "skipped" in line]
    assert len(bad_lines) == 1, bad_lines
    env["PYTHONPATH"] = os.environ.get("PYTHONPATH", "")  # the plugin is gone
    proc = subprocess.run([sys.executable, "-m", "ftcore", "infer", f"latest:{tmp_path / 'out'}", "-q", "hi"],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert ("trained with plugin ftcore-kitllama 0.1.0, which is not installed: pip install ftcore-kitllama==0.1.0"
            in proc.stderr)
