"""The output folder of a run and how checkpoint references resolve to folders.

    output/<model>/v<N>-<YYYYMMDD-HHMMSS>/      (output.add_suffix = true; else output.dir itself)
      run.toml  manifest.json  checkpoints.json  metrics.jsonl  loss.png  logs/
      checkpoint-<step>/                           adapter or full weights (safetensors), tokenizer, ftcore_run.toml
      .ftcore.lock                                 while a run writes into the folder (see RunLock)

A checkpoint is written as ``.tmp-checkpoint-<step>/`` and renamed when complete, so ``checkpoint-*`` folders are
always whole. ``checkpoints.json`` names the best (lowest eval loss) and last checkpoint.

Checkpoint references (``ftcore infer REF``, ``train.resume_from_checkpoint``) — see :func:`resolve_checkpoint`.
This module imports nothing heavy: the inference command uses it at start-up.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ftcore.errors import FtcoreError

CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")
VERSION_RE = re.compile(r"^v(\d+)")
TMP_PREFIX = ".tmp-"
STATE_FILE = "checkpoints.json"
RUN_FILE_IN_CHECKPOINT = "ftcore_run.toml"
#: the run folder's lock (pid, host, start time of the run writing into it)
LOCK_FILE = ".ftcore.lock"
#: taken while a new v<N> folder is chosen (in output/<model>/)
VERSION_LOCK = ".ftcore-versions.lock"


def new_run_dir(root: str | os.PathLike[str], model_name: str, *, add_suffix: bool = True,
                now: float | None = None) -> Path:
    """``root/<model>/v<N>-<YYYYMMDD-HHMMSS>`` (N = 1 + the largest existing version, 0 for the first), created.

    With ``add_suffix`` false the run writes into ``root`` itself (ms-swift's ``add_output_dir_suffix false``).
    """
    root = Path(root)
    if not add_suffix:
        root.mkdir(parents=True, exist_ok=True)
        return root
    parent = root / model_name
    parent.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    # the version is decided under an exclusive lock on the model folder: two runs started at once (even in
    # different seconds, whose folder names differ) never take the same v<N>
    with _folder_lock(parent / VERSION_LOCK):
        while True:
            versions = [int(m.group(1)) for p in parent.iterdir() if (m := VERSION_RE.match(p.name))]
            run = parent / f"v{max(versions, default=-1) + 1}-{stamp}"
            try:
                run.mkdir()
                return run
            except FileExistsError:
                continue


@contextlib.contextmanager
def _folder_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock (``flock``) held while the block runs; a no-op where fcntl is missing."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(path, "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class RunLock:
    """The exclusive lock of a run folder: ``<run>/.ftcore.lock`` holding the owner's pid, host and start time.

    Taken by the training process (rank 0) before it writes anything into the folder, removed when the run ends
    (also on errors). A second run into the same folder gets a one-line :class:`FtcoreError` naming the holder. A
    lock left by a process that no longer exists on this host (killed with SIGKILL, out of memory) is stale: it is
    replaced with a note. A lock held from another host cannot be checked; the message says how to remove it.
    """

    def __init__(self, run_dir: str | os.PathLike[str]):
        self.path = Path(run_dir) / LOCK_FILE
        self.held = False

    def acquire(self) -> RunLock:
        info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = read_lock(self.path)
                if holder is not None and not _is_stale(holder):
                    raise FtcoreError(
                        f"{self.path.parent}: another run is writing into this folder (pid {holder.get('pid')} on "
                        f"{holder.get('host')}, since {holder.get('started')}); wait for it to end, choose another "
                        f"output.dir or set output.add_suffix = true (if that run is gone, delete {self.path})"
                    ) from None
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()  # stale (or unreadable: a writer died between create and write)
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(json.dumps(info) + "\n")
            self.held = True
            return self
        raise FtcoreError(f"{self.path}: could not take the run folder's lock (it keeps reappearing); try again")

    def release(self) -> None:
        if self.held:
            self.held = False
            holder = read_lock(self.path)
            if holder is not None and holder.get("pid") == os.getpid():
                with contextlib.suppress(OSError):
                    self.path.unlink()

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def read_lock(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The holder recorded in a lock file (``{"pid", "host", "started"}``), or None when unreadable."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _is_stale(holder: dict[str, Any]) -> bool:
    """True when the holder ran on this host and its process is gone."""
    if holder.get("host") != socket.gethostname():
        return False
    pid = holder.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return True
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def checkpoint_dirs(run_dir: str | os.PathLike[str]) -> list[Path]:
    """The complete checkpoints of a run, oldest step first (temporary ``.tmp-…`` folders excluded)."""
    run = Path(run_dir)
    if not run.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in run.iterdir() if p.is_dir() and (m := CHECKPOINT_RE.match(p.name))]
    return [p for _, p in sorted(found)]


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename: a reader (or a run
    killed mid-write) sees the old file or the new one, never half of one."""
    target = Path(path)
    tmp = target.with_name(f"{TMP_PREFIX}{target.name}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, target)


def write_state(run_dir: str | os.PathLike[str], best: str | None, last: str | None) -> None:
    """Record the best and last checkpoint of a run (``checkpoints.json``), atomically."""
    data = {"best": Path(best).name if best else None, "last": Path(last).name if last else None}
    write_text_atomic(Path(run_dir) / STATE_FILE, json.dumps(data, indent=2) + "\n")


def read_state(run_dir: str | os.PathLike[str]) -> dict[str, str | None]:
    """``{"best": name | None, "last": name | None}`` of a run; derived from the folders if the file is missing."""
    run = Path(run_dir)
    state: dict[str, str | None] = {"best": None, "last": None}
    try:
        data = json.loads((run / STATE_FILE).read_text(encoding="utf-8"))
        state.update({k: data.get(k) for k in ("best", "last")})
    except (OSError, ValueError):
        pass
    for key in ("best", "last"):  # a pointer to a checkpoint deleted since is ignored
        if state[key] and not (run / str(state[key])).is_dir():
            state[key] = None
    ckpts = checkpoint_dirs(run)
    if ckpts:
        state["last"] = state["last"] or ckpts[-1].name
        state["best"] = state["best"] or state["last"]
    return state


def latest_run(root: str | os.PathLike[str]) -> Path:
    """The most recently started run with at least one complete checkpoint under ``root`` (searched 2 levels)."""
    base = Path(root)
    if not base.is_dir():
        raise FtcoreError(f"latest:{root}: folder not found")
    candidates = [base] + [p for p in base.iterdir() if p.is_dir()]
    candidates += [q for p in base.iterdir() if p.is_dir() for q in p.iterdir() if q.is_dir()]
    runs = [p for p in candidates if checkpoint_dirs(p)]
    if not runs:
        raise FtcoreError(f"latest:{root}: no run with a complete checkpoint in this folder (train one first)")

    def started(p: Path) -> tuple[float, int]:
        run_file = p / "run.toml"
        t = run_file.stat().st_mtime if run_file.is_file() else p.stat().st_mtime
        m = VERSION_RE.match(p.name)
        return (t, int(m.group(1)) if m else -1)

    return max(runs, key=started)


def resolve_checkpoint(text: str) -> str:
    """A checkpoint reference → the checkpoint folder.

    * ``latest:DIR`` — the newest run under ``DIR`` (e.g. ``output`` or ``output/<model>``), its best checkpoint;
      ``latest-last:DIR`` — that run's last checkpoint.
    * ``RUN/checkpoint-best``, ``RUN/checkpoint-last`` — the best / last checkpoint of run folder ``RUN``.
    * ``RUN`` — a run folder: its best checkpoint.
    * any other existing folder (a checkpoint, or a merged / full model) — itself.

    :raises FtcoreError: one line naming the reference when nothing matches.
    """
    raw = text
    text = os.path.expanduser(text)
    which = "best"
    for prefix, kind in (("latest:", "best"), ("latest-last:", "last"), ("latest-best:", "best")):
        if text.startswith(prefix):
            run = latest_run(text[len(prefix):] or ".")
            return _pick(run, kind, raw)
    p = Path(text)
    if p.name in ("checkpoint-best", "checkpoint-last", "best", "last") and not p.is_dir():
        which = p.name.rsplit("-", 1)[-1]
        return _pick(p.parent, which, raw)
    if p.is_dir():
        if (p / "adapter_config.json").is_file() or (p / "config.json").is_file():
            return str(p)
        if checkpoint_dirs(p):
            return _pick(p, "best", raw)
        return str(p)
    raise FtcoreError(f"checkpoint {raw}: not found (give a checkpoint folder, a run folder, or latest:<output dir>)")


def _pick(run: Path, which: str, raw: str) -> str:
    state = read_state(run)
    name = state.get(which)
    if not name:
        raise FtcoreError(f"checkpoint {raw}: run {run} has no complete checkpoint yet")
    return str(run / name)


MANIFEST_FILE = "manifest.json"


def read_manifest(folder: str | os.PathLike[str]) -> dict | None:
    """The ``manifest.json`` of the run that ``folder`` (a run folder or one of its checkpoints) belongs to."""
    path = Path(folder)
    for candidate in (path / MANIFEST_FILE, path.parent / MANIFEST_FILE):
        if candidate.is_file():
            try:
                data = json.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return None
            return data if isinstance(data, dict) else None
    return None


def missing_plugin(kind: str, name: str, manifest: dict | None) -> str | None:
    """Why a ``kind`` (``model``, ``template``, ``dataset``, ``tuner``) the catalog does not know is missing, when
    the run's manifest (``provided_by``) or ftcore's list of its own plugins names the plugin that provides it and
    that plugin is not installed; None otherwise."""
    from ftcore.registry import missing_provider

    recorded = None
    if manifest:
        provided = manifest.get("provided_by") or {}
        entry = provided.get("datasets", {}).get(name) if kind == "dataset" else provided.get(kind)
        if isinstance(entry, dict) and entry.get("name") == name:
            recorded = entry
    return missing_provider(kind, name, recorded)
