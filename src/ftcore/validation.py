"""Checks of a RunConfig against the catalog and the file system (names exist, files exist)."""

from __future__ import annotations

from ftcore.config import RunConfig
from ftcore.errors import ConfigError


def check_references(cfg: RunConfig) -> None:
    """Raise :class:`ConfigError` listing unknown model/template/dataset names and missing files."""
    from ftcore.plugins import load_local_plugins
    from ftcore.registry import get_catalog

    problems: list[str] = []
    src = cfg.source
    if cfg.plugins:
        try:
            load_local_plugins(cfg.plugins, cfg.base_dir)
        except Exception as exc:  # noqa: BLE001
            problems.append(f"{src}: plugins: {exc}")
    catalog = get_catalog()
    problems.extend(f"{src}: plugins: {err}" for err in catalog.errors)
    if cfg.model.name and cfg.model.name not in catalog.models:
        problems.append(f"{src}: model.name: {_unknown(catalog.models, cfg.model.name)}")
    if cfg.model.path:
        from pathlib import Path

        if not Path(cfg.resolve_path(cfg.model.path)).is_dir():
            problems.append(f"{src}: model.path: folder {cfg.model.path} not found")
    if not (cfg.model.name or cfg.model.path or cfg.model.repo):
        problems.append(f"{src}: model: give name, path or repo")
    tname = cfg.template.name
    if tname and tname != "jinja" and tname not in catalog.templates:
        problems.append(f"{src}: template.name: {_unknown(catalog.templates, tname)}")
    for section in ("datasets", "validation"):
        for i, entry in enumerate(getattr(cfg.data, section)):
            name = entry if isinstance(entry, str) else entry.name
            path = None if isinstance(entry, str) else entry.path
            if isinstance(entry, str) and _looks_like_path(entry):
                name, path = None, entry
            if name and name not in catalog.datasets:
                problems.append(f"{src}: data.{section}[{i}]: {_unknown(catalog.datasets, name)}")
            if path:
                from pathlib import Path

                if not Path(cfg.resolve_path(path)).exists():
                    problems.append(f"{src}: data.{section}[{i}]: file {path} not found")
    if problems:
        raise ConfigError(problems)


def _looks_like_path(text: str) -> bool:
    return "/" in text or text.endswith((".jsonl", ".json", ".csv", ".parquet"))


def _unknown(table, name: str) -> str:  # type: ignore[no-untyped-def]
    import difflib

    close = difflib.get_close_matches(name, table.names(), n=3, cutoff=0.6)
    kind = table.kind
    return f"unknown {kind} {name!r}" + (f" (did you mean {', '.join(close)}?)" if close else f" (see: ftcore {kind}s)")
