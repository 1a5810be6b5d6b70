"""Run folders as the page shows them: found under the UI's folder, with their metrics, checkpoints and result.

Reads only what ``ftcore train`` writes (docs/outputs: run.toml, metrics.jsonl, checkpoints.json, result.json,
``checkpoint-<step>/``, ``.ftcore.lock``); imports nothing heavy.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ftcore.errors import FtcoreError
from ftcore.outputs import LOCK_FILE, MANIFEST_FILE, STATE_FILE, checkpoint_dirs, read_lock, read_state

#: how deep under the UI's folder run folders are searched (output/<model>/v<N>-<time> is 3)
SEARCH_DEPTH = 4
#: files that make a folder holding ``run.toml`` a run folder (the UI's own run files sit next to no such file)
RUN_MARKERS = ("metrics.jsonl", MANIFEST_FILE, STATE_FILE, LOCK_FILE)


def inside(root: Path, path: str | os.PathLike[str]) -> Path:
    """``path`` (relative to ``root`` or absolute) resolved, refused unless it lies inside ``root``."""
    full = (root / path).resolve()
    if full != root and root not in full.parents:
        raise FtcoreError(f"{path}: not inside the UI's folder {root}")
    return full


def find_runs(root: Path, depth: int = SEARCH_DEPTH) -> list[Path]:
    """Run folders under ``root`` (hidden folders skipped), newest first."""
    found: list[Path] = []

    def walk(folder: Path, level: int) -> None:
        if (folder / "run.toml").is_file() and any((folder / m).exists() for m in RUN_MARKERS):
            found.append(folder)
            return
        if level >= depth:
            return
        try:
            children = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
        except OSError:
            return
        for child in children:
            if not child.name.startswith("checkpoint-"):
                walk(child, level + 1)

    walk(root, 0)
    return sorted(found, key=lambda p: (p / "run.toml").stat().st_mtime, reverse=True)


def read_metrics(run_dir: Path, since: int = 0) -> tuple[list[dict[str, Any]], int]:
    """The records of ``metrics.jsonl`` from line ``since`` on, and the line to ask from next time (a line still
    being written, without its newline, is left for the next call)."""
    path = run_dir / "metrics.jsonl"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return [], since
    lines = text.split("\n")[:-1]  # the part after the last newline is incomplete (or empty)
    records = []
    for line in lines[since:]:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records, max(since, len(lines))


def read_result(run_dir: Path) -> dict[str, Any] | None:
    """``result.json`` of a finished run, or None."""
    try:
        data = json.loads((run_dir / "result.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def run_summary(root: Path, run_dir: Path) -> dict[str, Any]:
    """What the runs panel lists for one run folder."""
    state = read_state(run_dir)
    holder = read_lock(run_dir / LOCK_FILE) if (run_dir / LOCK_FILE).exists() else None
    return {
        "path": str(run_dir.relative_to(root)),
        "checkpoints": [str(p.relative_to(root)) for p in checkpoint_dirs(run_dir)],
        "best": state["best"],
        "last": state["last"],
        "running": holder is not None,
        "pid": holder.get("pid") if holder else None,
        "result": read_result(run_dir),
    }


def run_of_pid(root: Path, pid: int) -> Path | None:
    """The run folder whose lock the process ``pid`` holds (a run started by the UI finds its folder this way)."""
    for run in find_runs(root):
        holder = read_lock(run / LOCK_FILE) if (run / LOCK_FILE).exists() else None
        if holder and holder.get("pid") == pid:
            return run
    return None
