"""The run form: its choices (the catalog's models, datasets and tuners), the run.toml a filled form gives, and
live validation of the edited text with exactly ``ftcore validate``'s messages."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

from ftcore.errors import ConfigError, FtcoreError

#: the [train] values a new run starts from: the quick start's (examples/quickstart.toml), small and CPU-friendly
DRAFT_TRAIN: dict[str, Any] = {
    "epochs": 1,
    "batch_size": 8,
    "grad_accum": 1,
    "lr": "auto",
    "warmup_ratio": 0.05,
    "eval_steps": 50,
    "logging_steps": 5,
    "save_total_limit": 2,
    "dataloader_num_workers": 0,
}


def choices() -> dict[str, list[dict[str, Any]]]:
    """The catalog as the form's lists (``ftcore models`` / ``datasets`` / ``tuners``): name, plugin, a short
    description."""
    from ftcore.registry import get_catalog

    catalog = get_catalog()

    def rows(kind: str, *extra: str) -> list[dict[str, Any]]:
        out = []
        for spec in catalog.table(kind):
            row = {"name": spec.name, "plugin": spec.plugin.split(" ")[0],
                   "description": getattr(spec, "description", "") or ""}
            row.update({key: getattr(spec, key, None) for key in extra})
            out.append(row)
        return out

    return {
        "models": rows("model", "template", "tags"),
        "datasets": rows("dataset", "task", "languages", "tags"),
        "tuners": rows("tuner", "default_lr"),
    }


def draft(form: dict[str, Any]) -> str:
    """The run.toml text of a filled form: ``model``, ``datasets`` (names or local files), ``tuner``, and
    optionally ``max_steps``, ``epochs``, ``lr``, ``output_dir``, ``max_length``."""
    from ftcore.config import dict_to_toml

    train = dict(DRAFT_TRAIN)
    for key in ("epochs", "lr", "max_steps"):
        if form.get(key) not in (None, ""):
            train[key] = form[key]
    data: dict[str, Any] = {
        "model": {"name": str(form.get("model") or "")},
        "template": {"max_length": int(form.get("max_length") or 512)},
        "data": {"datasets": [str(d) for d in form.get("datasets") or []], "test_ratio": 0.05},
        "tuner": {"method": str(form.get("tuner") or "lora")},
        "train": train,
        "output": {"dir": str(form.get("output_dir") or "output")},
    }
    return dict_to_toml(data)


def validate_text(path: Path, text: str, shown: str | None = None) -> list[str]:
    """Every problem ``ftcore validate <path>`` would report if ``path`` held ``text`` (none: it is valid).

    The text is checked from a temporary file beside ``path`` (relative paths resolve the same way) and the
    messages name ``shown`` (default: ``path``), as the command's name the path it is given."""
    from ftcore.validation import validate_file

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".ftcore-ui-", suffix=".toml", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        try:
            with warnings.catch_warnings():  # a broken plugin the run does not use: a warning, not a problem
                warnings.simplefilter("ignore")
                validate_file(tmp)
        except ConfigError as exc:
            problems = exc.problems
        except FtcoreError as exc:
            problems = str(exc).splitlines()
        else:
            problems = []
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    return [_rename(p, tmp, shown or str(path)) for p in problems]


def _rename(problem: str, tmp: str, name: str) -> str:
    for prefix in (tmp, os.path.basename(tmp)):
        if problem.startswith(prefix):
            return name + problem[len(prefix):]
    return problem.replace(tmp, name)


def output_dir(path: Path, text: str) -> Path:
    """The folder a valid run file ``text`` at ``path`` writes its runs into (``output.dir``, resolved)."""
    from ftcore.config import config_from_dict

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib

    cfg = config_from_dict(tomllib.loads(text), source=str(path), base_dir=str(path.parent))
    return Path(cfg.resolve_path(cfg.output.dir)).resolve()
