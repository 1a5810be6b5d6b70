"""The run's dataset entries: which are paths and which are catalog names, resolved to specs and loaded.

:func:`classify_entry` is the one rule that decides whether a plain ``data.datasets`` string is a local path or
a registered dataset name; ``ftcore validate`` (:mod:`ftcore.validation`) and loading both use it.
Pure Python at import time (``ftcore validate`` imports it).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Container, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ftcore.data.loading import BUILDERS, BUILTIN_PREFIX
from ftcore.errors import FtcoreError
from ftcore.specs import DatasetOptions, DatasetSpec

#: file suffixes that make a plain string a path although no loader reads them (reported as unsupported)
UNSUPPORTED_SUFFIXES = (".txt", ".xlsx", ".xls", ".zip", ".gz", ".tar")


@dataclass
class Source:
    """One dataset of the run, resolved to a spec."""

    label: str
    spec: DatasetSpec
    sample: int | None = None
    #: the text encoding of its local files (``encoding`` of the dataset entry; None = UTF-8)
    encoding: str | None = None


@dataclass
class LoadedSources:
    """The run's sources, loaded raw: ``parts[i]`` is ``"train"`` or ``"validation"``; ``raw[i]`` is
    (train, validation-or-None) of ``sources[i]``."""

    sources: list[Source]
    parts: list[str]
    raw: list[tuple[Any, Any]]

    @property
    def labels(self) -> list[str]:
        return [s.label for s in self.sources]

    def fingerprints(self) -> dict[str, str]:
        """``{"<source>": <raw fingerprint>, "<source> [validation]": ...}`` for the run's manifest."""
        return {f"{s.label} [{p}]" if p != "train" else s.label: str(getattr(r[0], "_fingerprint", ""))
                for s, p, r in zip(self.sources, self.parts, self.raw, strict=True)}


def classify_entry(text: str, *, registered: Container[str] = (), base_dir: str | os.PathLike[str] | None = None
                   ) -> Literal["name", "path"]:
    """Whether a plain ``data.datasets`` string is a local ``"path"`` or a catalog ``"name"``.

    A registered name wins. Else it is a path when it starts with ``builtin:``, ``.``, ``/`` or ``~``, holds a
    path separator, ends with a data file suffix (:data:`ftcore.data.loading.BUILDERS`, or one of
    :data:`UNSUPPORTED_SUFFIXES`, which loading then reports), or names an existing file or folder under
    ``base_dir``. Anything else is a name (unknown names get a did-you-mean from the catalog).
    """
    if text in registered:
        return "name"
    suffix = Path(text).suffix.lower()
    if (
        text.startswith((BUILTIN_PREFIX, ".", "/", "~"))
        or "/" in text
        or "\\" in text
        or os.sep in text
        or suffix in BUILDERS
        or suffix in UNSUPPORTED_SUFFIXES
    ):
        return "path"
    try:
        if base_dir is not None and (Path(base_dir) / text).exists():
            return "path"
    except (OSError, ValueError):  # a name the file system cannot even look up (too long …): not a file here
        pass
    return "name"


def unsupported_file_type(path: str | os.PathLike[str]) -> str | None:
    """The problem with a data file's suffix (None when a loader reads it; folders are always fine)."""
    p = Path(path)
    try:
        folder = p.is_dir()
    except (OSError, ValueError):
        folder = False
    if folder or p.suffix.lower() in BUILDERS:
        return None
    return f"unsupported file type {p.suffix or '(none)'} (use {', '.join(sorted(BUILDERS))}, or a folder)"


def resolve_entry(entry: Any, *, base_dir: str = ".", hub: str = "auto") -> Source:
    """A ``data.datasets`` item (a name, a path, a ``DatasetEntry`` or a dict) → a :class:`Source`."""
    from ftcore.config import DatasetEntry
    from ftcore.registry import get_catalog

    if isinstance(entry, Mapping):
        entry = DatasetEntry.model_validate(dict(entry))
    if isinstance(entry, str):
        if classify_entry(entry, registered=get_catalog().datasets, base_dir=base_dir) == "name":
            return Source(entry, get_catalog().datasets.get(entry))
        entry = DatasetEntry(path=entry)
    split = entry.split or "train"
    train = [f"{entry.subset}:{split}" if entry.subset else split] if (entry.subset or entry.split) else None
    if entry.name:
        spec = dataclasses.replace(get_catalog().datasets.get(entry.name))
        if train:
            spec.train = train
        if entry.columns:
            spec.columns = {**spec.columns, **entry.columns}
        label = entry.name
    elif entry.path:
        path = entry.path
        if not path.startswith(BUILTIN_PREFIX):
            p = Path(os.path.expanduser(path))
            path = str(p if p.is_absolute() else Path(base_dir) / p)
        spec = DatasetSpec(name="local", path=path, columns=dict(entry.columns), train=train or ["train"])
        label = entry.path
    else:
        assert entry.repo is not None
        hubs = {"huggingface": entry.repo, "modelscope": entry.repo} if hub == "auto" else {hub: entry.repo}
        spec = DatasetSpec(name="hub", hub=hubs, columns=dict(entry.columns), train=train or ["train"])
        label = entry.repo
    return Source(label, spec, entry.sample, entry.encoding)


def load_source(source: Source, data: Any, *, streaming: bool = False) -> tuple[Any, Any]:
    """Raw (train, validation-or-None) of one source through the ``load_dataset`` hook."""
    from ftcore.plugins import get_plugin_manager

    sample = source.sample if source.sample is not None else source.spec.sample
    options = DatasetOptions(hub=data.hub, sample=sample, seed=data.seed, streaming=streaming,
                             encoding=source.encoding)
    out = get_plugin_manager().hook.load_dataset(spec=source.spec, options=options)
    if out is None:
        raise FtcoreError(f"dataset {source.label!r}: no plugin could load it")
    if isinstance(out, tuple):
        return out[0], out[1]
    return out, None


def load_sources(data: Any, base_dir: str, *, streaming: bool = False) -> LoadedSources:
    """Every ``data.datasets`` and ``data.validation`` entry resolved and loaded raw."""
    if not data.datasets:
        raise FtcoreError("data.datasets: no dataset given (names from `ftcore datasets`, or {path = ...})")
    sources, parts, raw = [], [], []
    for entry in data.datasets:
        src = resolve_entry(entry, base_dir=base_dir, hub=data.hub)
        sources.append(src)
        parts.append("train")
        raw.append(load_source(src, data, streaming=streaming))
    for entry in data.validation:
        src = resolve_entry(entry, base_dir=base_dir, hub=data.hub)
        sources.append(src)
        parts.append("validation")
        train, val = load_source(src, data, streaming=streaming)
        raw.append((val if val is not None else train, None))
    return LoadedSources(sources, parts, raw)
