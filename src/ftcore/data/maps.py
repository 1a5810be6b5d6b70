"""How the data stage runs ``datasets.map``: batch size, worker processes, progress bars, work files, fingerprints.

The bottom of the data stage's map-running modules (normalize, encode, cache, the modes): it imports no other
ftcore module.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

#: rows per map batch
BATCH = 256
#: smaller sets are prepared without progress bars (they take a blink)
PROGRESS_MIN_ROWS = 20_000
#: where intermediate map results go while a cache entry is built (removed once it is saved)
WORK_DIR: ContextVar[Path | None] = ContextVar("ftcore_data_work_dir", default=None)


def map_cache_file(fingerprint: str | None) -> str | None:
    """The arrow file a fingerprinted map step writes to inside the current work folder, else None."""
    work = WORK_DIR.get()
    return str(work / f"{fingerprint}.arrow") if work is not None and fingerprint else None


@contextmanager
def work_dir(folder: Path | None) -> Iterator[None]:
    """Map steps inside the block write their results under ``folder`` (see :func:`map_cache_file`)."""
    token = WORK_DIR.set(folder)
    try:
        yield
    finally:
        WORK_DIR.reset(token)


@contextmanager
def progress_bars(rows: int) -> Iterator[None]:
    """The datasets library's progress bars, for long work only."""
    import datasets

    if rows >= PROGRESS_MIN_ROWS or datasets.are_progress_bars_disabled():
        yield
        return
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        datasets.enable_progress_bars()


def num_proc_for(ds: Any, num_proc: int) -> int | None:
    """``num_proc`` for a map over ``ds``; None (one process) when the set is too small to be worth it."""
    return num_proc if num_proc > 1 and len(ds) >= 256 * num_proc else None


def fingerprint_of(*parts: Any) -> str:
    """A short, stable hash of JSON-able ``parts``."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]
