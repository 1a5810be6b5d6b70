"""Checks of a RunConfig against the catalog, the file system and the installed packages: names exist, files
exist, plugins load, and what a run would otherwise find only after loading (:func:`environment_problems`).
:func:`validate_file` is ``ftcore validate``: every problem of a file at once.

:func:`check_references` is what ``ftcore validate`` runs after the config itself is valid, and what a run calls
before loading anything heavy: it loads the run's local plugin files (``plugins = [...]``), then reports every
unknown name and missing file at once, each as ``run.toml: <key>: <message>``.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from ftcore.config import RunConfig
from ftcore.data.sources import classify_entry, unsupported_file_type
from ftcore.errors import ConfigError
from ftcore.preflight import clip, environment_problems, exists, is_dir, is_file


def validate_file(path: str, overrides: list[str] | None = None) -> RunConfig:
    """``ftcore validate``: every problem of a run file at once (keys and values, cross-key checks, names, files,
    plugins and :func:`environment_problems`); raises :class:`ConfigError` listing them, else returns the config.

    Names, files and the environment are checked even when some values are invalid: those values are dropped
    (their defaults stand in) for these checks."""
    from ftcore.config import config_from_dict, config_without_errors, read_config_data

    data = read_config_data(path, overrides)
    base_dir = str(Path(path).parent.resolve())
    problems: list[str] = []
    causes: list[BaseException] = []  # the exceptions behind problems, for FTCORE_DEBUG=1
    cfg: RunConfig | None
    try:
        cfg = config_from_dict(data, source=str(path), base_dir=base_dir)
        valid = cfg
    except ConfigError as exc:
        problems.extend(exc.problems)
        cfg = config_without_errors(data, source=str(path), base_dir=base_dir)
        valid = None
    if cfg is not None:
        more: list[str] = []
        try:
            check_references(cfg)
        except ConfigError as exc:
            more.extend(exc.problems)
            causes.extend(exc.causes)
        more.extend(environment_problems(cfg))
        reported = [_key_of(p, str(path)) for p in problems]
        for p in more:  # a key already reported (or a section / item of it) is not reported twice
            key = _key_of(p, str(path))
            if p not in problems and not any(_related(key, k) for k in reported):
                problems.append(p)
    if problems:
        raise ConfigError(problems, causes)
    assert valid is not None
    return valid


def check_environment(cfg: RunConfig, *, training: bool = True) -> None:
    """Raise :class:`ConfigError` listing :func:`environment_problems` (a run calls it after
    :func:`check_references`, before loading the model)."""
    problems = environment_problems(cfg, training=training)
    if problems:
        raise ConfigError(problems)


def _key_of(problem: str, source: str) -> str:
    rest = problem[len(source) + 2:] if problem.startswith(f"{source}: ") else problem
    return rest.split(": ", 1)[0]


def _related(a: str, b: str) -> bool:
    return a == b or a.startswith((f"{b}.", f"{b}[")) or b.startswith((f"{a}.", f"{a}["))


def check_references(cfg: RunConfig, *, training: bool = True) -> None:
    """Raise :class:`ConfigError` listing every unknown model/template/dataset name and missing file.

    Loads the run's local plugin files first. ``training=False`` (inference) does not require datasets.
    Registration errors of installed plugins that the run does not use are warnings, not problems.
    """
    from ftcore.plugins import FtcoreWarning, load_local_plugins
    from ftcore.registry import get_catalog

    problems: list[str] = []
    causes: list[BaseException] = []  # the exceptions behind problems, for FTCORE_DEBUG=1
    src = cfg.source
    for i, raw in enumerate(cfg.plugins):
        try:
            load_local_plugins([raw], cfg.base_dir)
        except Exception as exc:  # noqa: BLE001 - a user's file: report, keep checking
            problems.append(f"{src}: plugins[{i}]: {exc}")
            causes.append(exc)
    catalog = get_catalog()
    from ftcore.outputs import missing_plugin, read_manifest

    manifest = read_manifest(cfg.base_dir)  # a run folder's run.toml, a checkpoint's ftcore_run.toml

    def _lookup(table: Any, name: str) -> str | None:
        problem = _lookup_name(table, name)
        if problem and name not in table.conflicts:
            hint = missing_plugin(table.kind, name, manifest)
            if hint:
                return f"unknown {table.kind} {name!r}: {hint}"
        return problem

    local_labels = tuple(f"{raw} (local file)" for raw in cfg.plugins)
    others = []
    for err in catalog.errors:
        if local_labels and any(label in err for label in local_labels):
            problems.append(f"{src}: plugins: {err}")
            if err in catalog.exceptions:
                causes.append(catalog.exceptions[err])
        else:
            others.append(err)

    model = cfg.model
    if model.name:
        problem = _lookup(catalog.models, model.name)
        if problem:
            problems.append(f"{src}: model.name: {problem}")
    if (
        model.path
        and not model.path.startswith("builtin:")
        and not is_dir(cfg.resolve_path(model.path))
    ):
        problems.append(f"{src}: model.path: folder {clip(model.path)} not found")
    if not (model.name or model.path or model.repo):
        problems.append(
            f"{src}: model: give name (see: ftcore models), path (a local folder) or repo (a hub id)"
        )

    problems.extend(f"{src}: {p}" for p in _tuner_problems(cfg, catalog))
    problems.extend(f"{src}: {p}" for p in _stage_problems(cfg, catalog))

    tname = cfg.template.name
    if tname and not (tname == "jinja" and "jinja" not in catalog.templates.conflicts):
        problem = _lookup(catalog.templates, tname)
        if problem:
            problems.append(f"{src}: template.name: {problem}")

    if training and not cfg.data.datasets:
        problems.append(
            f"{src}: data.datasets: name at least one dataset (see: ftcore datasets) or a local file"
        )
    for section in ("datasets", "validation"):
        for i, entry in enumerate(getattr(cfg.data, section)):
            key = f"data.{section}[{i}]"
            name, path = _name_and_path(entry, catalog.datasets, cfg.base_dir)
            if name:
                problem = _lookup(catalog.datasets, name)
                if problem:
                    problems.append(f"{src}: {key}: {problem}")
            if path and not path.startswith("builtin:"):
                full = Path(cfg.resolve_path(path))
                if not exists(full):
                    problems.append(f"{src}: {key}: file {clip(path)} not found")
                elif unsupported_file_type(full):
                    problems.append(f"{src}: {key}: {clip(path)}: {unsupported_file_type(full)}")

    ds = cfg.train.deepspeed
    if ds and ds.endswith(".json") and not is_file(cfg.resolve_path(ds)):
        problems.append(f"{src}: train.deepspeed: file {clip(ds)} not found")
    resume = cfg.train.resume_from_checkpoint
    if resume and resume != "latest" and not is_dir(cfg.resolve_path(resume)):
        problems.append(f'{src}: train.resume_from_checkpoint: folder {clip(resume)} not found (or use "latest")')
    for err in others:  # registration errors the run is not hit by (a conflict it uses is a problem above)
        if not any(p.endswith(err) for p in problems):
            warnings.warn(err, FtcoreWarning, stacklevel=2)
    if problems:
        raise ConfigError(problems, causes)


def _tuner_problems(cfg: RunConfig, catalog: Any) -> list[str]:
    """``tuner.method`` is a registered method; the ``[tuner]`` keys suit it; a quantized base is one it can train."""
    method = cfg.tuner.method
    problem = _lookup_name(catalog.tuners, method)
    if problem:
        return [f"tuner.method: {problem}"]
    spec = catalog.tuners.get(method)
    from ftcore.tuners import option_problems

    try:
        out = option_problems(cfg.tuner, spec)
    except Exception as exc:  # noqa: BLE001 - a plugin's options model that cannot be imported
        return [f"tuner.method: {exc}"]
    if cfg.model.quantization.bits and not spec.supports_quantized:
        out.append(
            f"tuner.method: {method!r} cannot train a quantized model "
            "(set model.quantization.bits = 0, or use method = 'qlora')"
        )
    if not out:
        from ftcore.tuners import run_problems

        try:
            out.extend(run_problems(cfg, spec))
        except Exception as exc:  # noqa: BLE001 - a plugin's options model raising: report, keep checking
            out.append(f"tuner.method: {exc}")
    return out


def _stage_problems(cfg: RunConfig, catalog: Any) -> list[str]:
    """``train.stage`` is a registered stage; each plugin stage's table (a top-level table that is no section)
    belongs to a registered stage and passes its options model."""
    import difflib

    from pydantic import ValidationError

    from ftcore.config import error_message

    out = []
    problem = _lookup_name(catalog.stages, cfg.train.stage)
    if problem:
        out.append(f"train.stage: {problem}")
    for name, table in cfg.stage_tables.items():
        if name not in catalog.stages:
            close = difflib.get_close_matches(name, catalog.stages.names(), n=1)
            hint = f" (did you mean [{close[0]}]?)" if close else (
                " (neither a section of run.toml nor a registered stage's options table; see: ftcore stages)")
            out.append(f"{name}: unknown key{hint}")
            continue
        try:
            model = catalog.stages.get(name).options_model()
        except Exception as exc:  # noqa: BLE001 - a plugin's options model that cannot be imported
            out.append(f"{name}: {exc}")
            continue
        if model is None:
            out.append(f"{name}: stage {name!r} takes no options; remove the [{name}] table")
            continue
        try:
            model.model_validate(table)
        except ValidationError as exc:
            for err in exc.errors():
                key = ".".join([name, *(str(p) for p in err["loc"])])
                if err["type"] == "extra_forbidden":
                    close = difflib.get_close_matches(str(err["loc"][-1]), list(model.model_fields), n=1)
                    hint = f"did you mean {name}.{close[0]}?" if close else \
                        f"known keys: {', '.join(model.model_fields) or 'none'}"
                    out.append(f"{key}: unknown key ({hint})")
                else:
                    out.append(f"{key}: {error_message(err)}")
    return out


def stage_options(cfg: RunConfig, stage: str | None = None) -> Any:
    """The validated options of ``stage`` (default: ``train.stage``): a built-in stage's typed table of
    RunConfig (``cfg.dpo`` …), a plugin stage's table through its options model; None when it takes none."""
    from ftcore.registry import get_catalog

    name = stage or cfg.train.stage
    if name in RunConfig.model_fields:
        return getattr(cfg, name)
    model = get_catalog().stages.get(name).options_model()
    return None if model is None else model.model_validate(cfg.stage_tables.get(name, {}))


def _name_and_path(entry: Any, registered: Any, base_dir: str) -> tuple[str | None, str | None]:
    """A ``data.datasets`` entry as (registered name, local path); a plain string is sorted by
    :func:`ftcore.data.sources.classify_entry`, the rule loading uses too."""
    if isinstance(entry, str):
        if classify_entry(entry, registered=registered, base_dir=base_dir) == "path":
            return None, entry
        return entry, None
    return entry.name, entry.path


def _lookup_name(table: Any, name: str) -> str | None:
    """None when ``name`` is registered, else the problem (unknown with suggestions, or registered twice)."""
    if len(name) > 200:
        return f"unknown name {clip(repr(name))}; see the catalog (ftcore models / templates / datasets / tuners)"
    if name in table.conflicts:
        return str(table.conflicts[name])
    if name in table:
        return None
    return str(table.unknown(name))
