"""Security: a checkpoint never runs code, remote code needs consent, secrets are never written, dataset paths
leaving the run folder are reported; bad checkpoints and plugin files give one line each."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ftcore.cli import main
from ftcore.errors import FtcoreError

from .conftest import run_dict, run_dirs, subprocess_env, write_toml

PLUGIN = """
from pathlib import Path
Path({marker!r}).write_text("ran")
"""


@pytest.fixture(scope="module")
def trained(tiny_model: str, data_file: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 2-step LoRA run whose run.toml names a local plugin file (that writes a marker when imported)."""
    from ftcore import plugins
    from ftcore.training import train

    root = tmp_path_factory.mktemp("trained")
    marker = root / "plugin-ran"
    (root / "evil.py").write_text(PLUGIN.format(marker=str(marker)))
    cfg = run_dict(tiny_model, data_file, root / "out", train={"max_steps": 2})
    cfg["plugins"] = ["evil.py"]
    plugins.reset()
    result = train(str(write_toml(root / "run.toml", cfg)))
    plugins.reset()
    assert marker.is_file()  # the user's own run.toml: loaded while training
    marker.unlink()
    return {"ckpt": Path(str(result.last_checkpoint)), "marker": marker, "root": root}


def _one_error(capsys: pytest.CaptureFixture[str], rc: int) -> str:
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


# --------------------------------------------------------------------------------- no code from checkpoints


def test_checkpoint_plugin_files_are_not_imported_without_consent(trained: dict[str, Path],
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from ftcore import plugins
    from ftcore.inference.checkpoint import load_checkpoint

    plugins.reset()
    load_checkpoint(trained["ckpt"])
    err = capsys.readouterr().err
    assert not trained["marker"].exists()
    line = [x for x in err.splitlines() if "not loading the local plugin files" in x]
    assert len(line) == 1 and "evil.py" in line[0] and "--allow-plugins" in line[0]
    plugins.reset()
    load_checkpoint(trained["ckpt"], allow_plugins=True)
    assert trained["marker"].is_file()
    trained["marker"].unlink()


@pytest.mark.parametrize("command", [["infer", "--query", "hi", "--max-new-tokens", "2"], ["merge"]])
def test_commands_skip_checkpoint_plugins(trained: dict[str, Path], tmp_path: Path, command: list[str],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    from ftcore import plugins

    plugins.reset()
    args = [command[0], str(trained["ckpt"]), *command[1:]]
    if command[0] == "merge":
        args += ["--out", str(tmp_path / "merged")]
    assert main(args) == 0
    assert not trained["marker"].exists()
    assert "pass --allow-plugins to load them" in capsys.readouterr().err
    plugins.reset()
    assert main([*args, "--allow-plugins", *(["--overwrite"] if command[0] == "merge" else [])]) == 0
    assert trained["marker"].is_file()
    trained["marker"].unlink()


# --------------------------------------------------------------------------------------- bad checkpoints


def _copy(trained: dict[str, Path], tmp_path: Path) -> Path:
    dst = tmp_path / "ckpt"
    shutil.copytree(trained["ckpt"], dst)
    return dst


def _run_toml(ckpt: Path) -> str:
    return (ckpt / "ftcore_run.toml").read_text()


BAD_CHECKPOINTS = {
    "missing folder": lambda c: shutil.rmtree(c),
    "no run record": lambda c: (c / "ftcore_run.toml").unlink(),
    "run record not TOML": lambda c: (c / "ftcore_run.toml").write_text("model = [unclosed"),
    "run record with unknown key": lambda c: (c / "ftcore_run.toml").write_text(_run_toml(c) + "\nbogus = 1\n"),
    "no adapter weights": lambda c: (c / "adapter_model.safetensors").unlink(),
    "truncated safetensors": lambda c: (c / "adapter_model.safetensors").write_bytes(
        (c / "adapter_model.safetensors").read_bytes()[:100]),
    "garbage safetensors": lambda c: (c / "adapter_model.safetensors").write_bytes(b"\x00\xff" * 64),
    "empty safetensors": lambda c: (c / "adapter_model.safetensors").write_bytes(b""),
    "adapter config not JSON": lambda c: (c / "adapter_config.json").write_text("{not json"),
    "no adapter config and no weights": lambda c: [(c / n).unlink() for n in
                                                   ("adapter_config.json", "adapter_model.safetensors")],
    "base model folder gone": lambda c: (c / "ftcore_run.toml").write_text(
        _run_toml(c).replace('path = "', 'path = "/nonexistent', 1)),
    "missing plugin file (allowed)": lambda c: (c / "ftcore_run.toml").write_text(
        'plugins = ["/nonexistent/plugin.py"]\n' + _run_toml(c).split("\n", 1)[1]
        if _run_toml(c).startswith("plugins") else 'plugins = ["/nonexistent/plugin.py"]\n' + _run_toml(c)),
    "plugin file raising (allowed)": lambda c: (
        (c / "boom.py").write_text("raise RuntimeError('boom')\n"),
        (c / "ftcore_run.toml").write_text(f'plugins = ["{c / "boom.py"}"]\n' + "\n".join(
            line for line in _run_toml(c).splitlines() if not line.startswith("plugins")))),
    "plugin file with a syntax error (allowed)": lambda c: (
        (c / "bad.py").write_text("def (:\n"),
        (c / "ftcore_run.toml").write_text(f'plugins = ["{c / "bad.py"}"]\n' + "\n".join(
            line for line in _run_toml(c).splitlines() if not line.startswith("plugins")))),
    "plugin is not a .py file (allowed)": lambda c: (
        (c / "data.bin").write_bytes(b"\x00\x01"),
        (c / "ftcore_run.toml").write_text(f'plugins = ["{c / "data.bin"}"]\n' + "\n".join(
            line for line in _run_toml(c).splitlines() if not line.startswith("plugins")))),
}


@pytest.mark.parametrize("case", sorted(BAD_CHECKPOINTS))
def test_bad_checkpoint_is_one_line(case: str, trained: dict[str, Path], tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    from ftcore import plugins

    plugins.reset()
    ckpt = _copy(trained, tmp_path)
    BAD_CHECKPOINTS[case](ckpt)
    rc = main(["infer", str(ckpt), "--query", "hi", "--max-new-tokens", "2", "--allow-plugins"])
    line = _one_error(capsys, rc)
    assert len(line) < 600


MORE_BAD_REFERENCES = {
    "a file, not a folder": lambda d: (d / "file.txt").write_text("x") or d / "file.txt",
    "latest: of an empty folder": lambda d: f"latest:{d}",
    "latest: of a missing folder": lambda d: f"latest:{d / 'nope'}",
    "checkpoint-best of a run without checkpoints": lambda d: d / "checkpoint-best",
    "run folder with a corrupt checkpoints.json": lambda d: (
        (d / "checkpoints.json").write_text("{oops"), d / "checkpoint-last")[1],
}


@pytest.mark.parametrize("case", sorted(MORE_BAD_REFERENCES))
@pytest.mark.parametrize("command", ["infer", "merge", "eval"])
def test_bad_checkpoint_reference_is_one_line(case: str, command: str, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    ref = MORE_BAD_REFERENCES[case](tmp_path)
    rc = main([command, str(ref)])
    line = _one_error(capsys, rc)
    assert "checkpoint" in line or str(tmp_path) in line


def test_merge_refuses_full_weights_in_one_line(tiny_model: str, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    full = tmp_path / "full"
    shutil.copytree(tiny_model, full)
    (full / "ftcore_run.toml").write_text(f'[model]\npath = "{tiny_model}"\n')
    _one_error(capsys, main(["merge", str(full)]))


# -------------------------------------------------------------------------------------- remote code consent


def test_remote_code_spec_needs_the_users_consent(tiny_model: str, tmp_path: Path) -> None:
    from ftcore.config import config_from_dict
    from ftcore.models import ModelLoader, model_options
    from ftcore.specs import ModelSpec

    folder = tmp_path / "remote"
    shutil.copytree(tiny_model, folder)
    marker = tmp_path / "remote-code-ran"
    (folder / "modeling_evil.py").write_text(PLUGIN.format(marker=str(marker)))
    spec = ModelSpec(name="needs-remote", path=str(folder), trust_remote_code=True)
    cfg = config_from_dict({"model": {"path": str(folder)}}, source="run.toml")
    options = model_options(cfg, spec, str(folder), dtype="fp32")
    assert options.trust_remote_code is False  # the spec requiring it does not grant it
    with pytest.raises(FtcoreError) as info:
        ModelLoader(spec, options).load()
    text = str(info.value)
    assert "\n" not in text and str(folder) in text and "model.trust_remote_code = true" in text
    assert "--trust-remote-code" in text and not marker.exists()
    cfg = config_from_dict({"model": {"path": str(folder), "trust_remote_code": True}}, source="run.toml")
    assert model_options(cfg, spec, str(folder), dtype="fp32").trust_remote_code is True


def test_train_flag_trust_remote_code_sets_the_key() -> None:
    from ftcore.cli import build_parser

    args = build_parser().parse_args(["train", "run.toml", "--trust-remote-code"])
    assert args.trust_remote_code is True


def test_dataset_loading_script_is_never_run(tiny_model: str, tmp_path: Path) -> None:
    from ftcore.config import config_from_dict
    from ftcore.data.sources import load_sources

    folder = tmp_path / "scripted"
    folder.mkdir()
    marker = tmp_path / "script-ran"
    (folder / "scripted.py").write_text(PLUGIN.format(marker=str(marker)))
    cfg = config_from_dict({"model": {"path": tiny_model}, "data": {"datasets": [str(folder)]}},
                           source=str(tmp_path / "run.toml"))
    with pytest.raises(FtcoreError) as info:
        load_sources(cfg.data, str(tmp_path))
    assert "\n" not in str(info.value) and not marker.exists()


# ---------------------------------------------------------------------------------------------- secrets


def test_redact_argv_and_mapping() -> None:
    from ftcore.redact import REDACTED, is_secret_name, redact_argv, redact_mapping

    argv = ["ftcore", "train", "r.toml", "--set", "hub.token=S1", "--set=hub.token=S2", "--hub-token", "S3",
            "--api-key=S4", "x.db_password=S5", "--set", "generation.max_new_tokens=8"]
    out = redact_argv(argv)
    assert not any(s in " ".join(out) for s in ("S1", "S2", "S3", "S4", "S5"))
    assert "generation.max_new_tokens=8" in out and out.count(REDACTED) == 1
    assert redact_mapping({"hub": {"token": "t"}, "columns": {"key": "k"}, "x": [{"api_key": "a"}]}) == {
        "hub": {"token": REDACTED}, "columns": {"key": "k"}, "x": [{"api_key": REDACTED}]}
    assert not is_secret_name("max_new_tokens") and not is_secret_name("tokenizer")


@pytest.mark.slow
def test_planted_tokens_are_written_nowhere(tiny_model: str, data_file: str, tmp_path: Path) -> None:
    secrets = {"file": "tok-FILE-5e1c7a0b", "set": "tok-SET-9d2f44c1", "env": "tok-ENV-3b8e61d7"}
    pushed = tmp_path / "pushed"
    cfg = run_dict(tiny_model, data_file, tmp_path / "out", train={"max_steps": 2, "report_to": ["tensorboard"]})
    cfg["hub"] = {"push": True, "hub": "local", "local_dir": str(pushed), "strategy": "all_checkpoints",
                  "token": secrets["file"]}
    run = write_toml(tmp_path / "run.toml", cfg)
    env = subprocess_env(HF_TOKEN=secrets["env"], MODELSCOPE_API_TOKEN=secrets["env"], FTCORE_DEBUG="0")
    proc = subprocess.run([sys.executable, "-m", "ftcore", "train", str(run), "--set", f"hub.token={secrets['set']}"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    run_dir = run_dirs(tmp_path / "out")[-1]
    assert (run_dir / "manifest.json").is_file() and pushed.exists()
    assert "hub.token=***" in json.loads((run_dir / "manifest.json").read_text())["command"]
    found = []
    for root in (run_dir, pushed):
        for f in root.rglob("*"):
            if f.is_file():
                data = f.read_bytes()
                found += [f"{f}: {k}" for k, s in secrets.items() if s.encode() in data]
    found += [f"{name}: {k}" for name, text in (("stdout", proc.stdout), ("stderr", proc.stderr))
              for k, s in secrets.items() if s in text]
    assert not found, found


# ------------------------------------------------------------------------------------------- data paths


def test_paths_leaving_the_run_folder_are_reported(tmp_path: Path, data_file: str) -> None:
    from ftcore.data.report import outside_paths

    run_folder = tmp_path / "project"
    run_folder.mkdir()
    (run_folder / "inside.jsonl").write_text("{}\n")
    (run_folder / "link.jsonl").symlink_to(data_file)
    lines = outside_paths(["inside.jsonl", "link.jsonl", data_file, {"path": "../x.jsonl"}, "alpaca-zh"],
                          run_folder)
    (tmp_path / "x.jsonl").write_text("{}\n")
    lines = outside_paths(["inside.jsonl", "link.jsonl", data_file, {"path": "../x.jsonl"}, "alpaca-zh"],
                          run_folder)
    assert len(lines) == 3
    assert lines[0].startswith("link.jsonl: a symlink leaving") and lines[0].endswith(str(Path(data_file).resolve()))
    assert f"reads {(tmp_path / 'x.jsonl').resolve()}" in lines[2]
