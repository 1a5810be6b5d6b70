"""Run folders (versioning) and checkpoint references (latest:, checkpoint-best / -last, run folders)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ftcore.errors import FtcoreError
from ftcore.outputs import (
    checkpoint_dirs,
    latest_run,
    new_run_dir,
    read_state,
    resolve_checkpoint,
    write_state,
)


def _ckpt(run: Path, step: int) -> Path:
    p = run / f"checkpoint-{step}"
    p.mkdir(parents=True)
    (p / "adapter_config.json").write_text("{}")
    return p


def test_versions_count_up(tmp_path: Path) -> None:
    a = new_run_dir(tmp_path, "m", now=0)
    b = new_run_dir(tmp_path, "m", now=0)  # same second: still a new folder
    assert a.name.startswith("v0-") and b.name.startswith("v1-") and a.parent == tmp_path / "m"
    (tmp_path / "m" / "v7-x").mkdir()
    assert new_run_dir(tmp_path, "m").name.startswith("v8-")
    assert new_run_dir(tmp_path / "plain", "m", add_suffix=False) == tmp_path / "plain"


def test_temporary_checkpoints_are_not_checkpoints(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _ckpt(run, 10)
    (run / ".tmp-checkpoint-20").mkdir()
    (run / "checkpoint-abc").mkdir()
    assert [p.name for p in checkpoint_dirs(run)] == ["checkpoint-10"]
    assert read_state(run) == {"best": "checkpoint-10", "last": "checkpoint-10"}


def test_resolve_forms(tmp_path: Path) -> None:
    old = tmp_path / "out" / "m" / "v0-20260101-000000"
    _ckpt(old, 5)
    (old / "run.toml").write_text("")
    os.utime(old / "run.toml", (1, 1))
    run = tmp_path / "out" / "m" / "v1-20260101-000001"
    best, last = _ckpt(run, 10), _ckpt(run, 20)
    (run / "run.toml").write_text("")
    write_state(run, str(best), str(last))
    assert json.loads((run / "checkpoints.json").read_text()) == {"best": "checkpoint-10", "last": "checkpoint-20"}
    assert latest_run(tmp_path / "out") == run
    assert resolve_checkpoint(f"latest:{tmp_path / 'out'}") == str(best)
    assert resolve_checkpoint(f"latest:{tmp_path / 'out' / 'm'}") == str(best)
    assert resolve_checkpoint(f"latest-last:{tmp_path / 'out'}") == str(last)
    assert resolve_checkpoint(str(run / "checkpoint-best")) == str(best)
    assert resolve_checkpoint(str(run / "checkpoint-last")) == str(last)
    assert resolve_checkpoint(str(run)) == str(best)
    assert resolve_checkpoint(str(last)) == str(last)
    # a pointer to a rotated-away checkpoint falls back to what is there
    write_state(run, str(run / "checkpoint-1"), str(last))
    assert resolve_checkpoint(str(run)) == str(last)


def test_resolve_errors_are_one_line(tmp_path: Path) -> None:
    for ref, msg in (
        (f"latest:{tmp_path / 'none'}", "folder not found"),
        (f"latest:{tmp_path}", "no run with a complete checkpoint"),
        (str(tmp_path / "missing"), "not found"),
    ):
        with pytest.raises(FtcoreError, match=msg) as err:
            resolve_checkpoint(ref)
        assert "\n" not in str(err.value)
