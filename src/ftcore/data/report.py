"""The bad-row report: rows that could not be used, counted per source and reason, with example row numbers.

Row numbers count the records of a source from 1 in file order, before any split, sample or shuffle (line
numbers for jsonl, data rows after the header for csv). A validation split that lost bad rows is refilled with
usable training rows (counted as ``refilled``). The report is logged as one line per source and saved next to a cached dataset so a
warm run reports the same figures.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftcore.errors import FtcoreError

log = logging.getLogger("ftcore.data")

#: example row numbers kept per reason
EXAMPLES = 3


@dataclass
class SourceReport:
    """One dataset of the run (a file, a folder or a registered name)."""

    name: str
    #: ``train`` or ``validation``
    part: str = "train"
    rows: int = 0
    #: reason -> count
    bad: dict[str, int] = field(default_factory=dict)
    #: reason -> the first row numbers (1-based)
    examples: dict[str, list[int]] = field(default_factory=dict)
    #: rows in the source before the validation split and sampling (None: not known, e.g. streamed)
    file_rows: int | None = None
    #: usable training rows moved into a validation split in place of its bad rows
    refilled: int = 0
    #: rows that held a special-token text (``<|im_end|>`` …) in their content (encoded as plain text)
    special_text: int = 0
    #: rows cut to max_length (``template.truncation`` left / right) or to the character cap before tokenizing
    truncated: int = 0

    @property
    def skipped(self) -> int:
        return sum(self.bad.values())

    @property
    def usable(self) -> int:
        return self.rows - self.skipped

    def add(self, reason: str, row: int | None) -> None:
        self.bad[reason] = self.bad.get(reason, 0) + 1
        rows = self.examples.setdefault(reason, [])
        if row is not None and len(rows) < EXAMPLES:
            rows.append(row)

    def reasons_text(self) -> str:
        parts = []
        for reason, count in sorted(self.bad.items(), key=lambda kv: (-kv[1], kv[0])):
            rows = self.examples.get(reason, [])
            where = f" (row{'s' if len(rows) > 1 else ''} {', '.join(map(str, rows))})" if rows else ""
            parts.append(f"{reason}: {count}{where}")
        return "; ".join(parts)

    def notes(self) -> str:
        out = []
        if self.refilled:
            out.append(f"{self.refilled} usable training row{'s' if self.refilled != 1 else ''} moved in to "
                       "replace the skipped ones")
        if self.truncated:
            out.append(f"{self.truncated} row{'s' if self.truncated != 1 else ''} truncated to max_length")
        if self.special_text:
            out.append(f"{self.special_text} row{'s' if self.special_text != 1 else ''} with special-token text "
                       "in their content (encoded as plain text)")
        return "".join(f"; {n}" for n in out)

    def line(self) -> str:
        label = self.name if self.part == "train" else f"{self.name} [{self.part}]"
        of = f" (of {self.file_rows} in the source)" if self.file_rows is not None and self.file_rows != self.rows \
            else ""
        if not self.bad:
            return f"{label}: {self.rows} rows{of}, all usable{self.notes()}"
        return f"{label}: {self.skipped} of {self.rows} rows{of} skipped: {self.reasons_text()}{self.notes()}"


@dataclass
class DataReport:
    """Every source's counts. ``prepare_data`` returns it as ``PreparedData.report``."""

    sources: list[SourceReport] = field(default_factory=list)
    #: sources of which only a sample was read (no usable row among those is a warning, not an error)
    partial: set[str] = field(default_factory=set)
    #: other lines of the report (dataset paths that leave the run file's folder, see :func:`outside_paths`)
    notes: list[str] = field(default_factory=list)

    def source(self, name: str, part: str = "train") -> SourceReport:
        for s in self.sources:
            if s.name == name and s.part == part:
                return s
        s = SourceReport(name, part)
        self.sources.append(s)
        return s

    @property
    def skipped(self) -> int:
        return sum(s.skipped for s in self.sources)

    def by_reason(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.sources:
            for reason, count in s.bad.items():
                out[reason] = out.get(reason, 0) + count
        return out

    def lines(self) -> list[str]:
        return [s.line() for s in self.sources if s.rows or s.bad] + list(self.notes)

    def log(self) -> None:
        """One line per source: a warning where rows were skipped, info otherwise."""
        for s in self.sources:
            if s.rows or s.bad:
                (log.warning if s.bad else log.info)("data: %s", s.line())

    def check_usable(self) -> None:
        """A source whose training rows are all unusable is an error naming it (a warning for the sources in
        :attr:`partial`, of which only a sample was read). A validation part without a usable row is a warning:
        the run goes on without it."""
        for s in self.sources:
            if s.rows and not s.usable:
                msg = (f"data: {s.name}: no usable rows ({s.rows} rows; {s.reasons_text()}); "
                       "check the file's columns or map them with columns = {...}")
                if s.part != "train":
                    log.warning("%s", msg.replace(f"{s.name}:", f"{s.name} [{s.part}]:", 1)
                                + "; the run goes on without these validation rows")
                    continue
                if s.name in self.partial:
                    log.warning("%s", msg.replace("no usable rows", "no usable rows among those sampled"))
                    continue
                raise FtcoreError(msg)

    def to_dict(self) -> dict[str, Any]:
        return {"sources": [vars(s) | {} for s in self.sources]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DataReport:
        return cls([SourceReport(**s) for s in data.get("sources", [])])


def outside_paths(entries: Any, base_dir: str | os.PathLike[str]) -> list[str]:
    """One line per dataset path that leaves ``base_dir`` (the run file's folder) through ``..``, an absolute path
    or a symlink, naming its resolved target. Such paths are allowed; the report shows where they lead."""
    base = Path(base_dir).resolve()
    lines = []
    for entry in entries or []:
        raw = entry.get("path") if isinstance(entry, dict) else getattr(entry, "path", entry)
        if not isinstance(raw, str) or not raw or raw.startswith("builtin:"):
            continue
        path = Path(base_dir) / os.path.expanduser(raw)
        try:
            if not path.exists():
                continue  # a registered name or a hub id
        except (OSError, ValueError):  # a name the file system cannot look up: reported where it is loaded
            continue
        target = path.resolve()
        if target != base and base not in target.parents:
            how = "a symlink" if any(p.is_symlink() for p in (path, *path.parents)) else "a path"
            lines.append(f"{raw}: {how} leaving the run file's folder {base}: reads {target}")
    return lines


def strict_error(source: str, row: int | None, reason: str, detail: str | None = None) -> FtcoreError:
    """The error ``data.strict`` raises for the first bad row."""
    where = f" row {row}" if row is not None else ""
    what = f"{reason} ({detail})" if detail else reason
    return FtcoreError(f"data: {source}{where}: {what}; fix the row or set data.strict = false to skip such rows")


@dataclass
class PreparedData:
    """What ``prepare_data`` returns."""

    #: ``datasets.Dataset`` (eager), a torch ``Dataset`` (lazy) or a ``datasets.IterableDataset`` (streaming)
    train: Any
    validation: Any | None
    report: DataReport
    #: ``{"data": <cache key>, "<source>": <raw fingerprint>, ...}`` for the run's manifest
    fingerprints: dict[str, str] = field(default_factory=dict)
    #: the encoded sets came from the cache (nothing was tokenized)
    cache_hit: bool = False
    cache_dir: str | None = None
