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
        and not _is_dir(cfg.resolve_path(model.path))
    ):
        problems.append(f"{src}: model.path: folder {clip(model.path)} not found")
    if not (model.name or model.path or model.repo):
        problems.append(
            f"{src}: model: give name (see: ftcore models), path (a local folder) or repo (a hub id)"
        )

    problems.extend(f"{src}: {p}" for p in _tuner_problems(cfg, catalog))

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
                if not _exists(full):
                    problems.append(f"{src}: {key}: file {clip(path)} not found")
                elif unsupported_file_type(full):
                    problems.append(f"{src}: {key}: {clip(path)}: {unsupported_file_type(full)}")

    ds = cfg.train.deepspeed
    if ds and ds.endswith(".json") and not _is_file(cfg.resolve_path(ds)):
        problems.append(f"{src}: train.deepspeed: file {clip(ds)} not found")
    resume = cfg.train.resume_from_checkpoint
    if resume and resume != "latest" and not _is_dir(cfg.resolve_path(resume)):
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


def _exists(path: str | Path) -> bool:
    """``Path.exists`` that says False for a path the system cannot even look at (a name too long …)."""
    try:
        return Path(path).exists()
    except (OSError, ValueError):
        return False


def _is_dir(path: str | Path) -> bool:
    try:
        return Path(path).is_dir()
    except (OSError, ValueError):
        return False


def _is_file(path: str | Path) -> bool:
    try:
        return Path(path).is_file()
    except (OSError, ValueError):
        return False


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


# --------------------------------------------------------------------------------------------------
# checks of what a run would otherwise find only after loading the model and the data

#: ``train.report_to`` integrations → the modules that provide them (any one of them)
REPORT_MODULES = {
    "tensorboard": ("tensorboard", "tensorboardX"), "wandb": ("wandb",), "mlflow": ("mlflow",),
    "comet_ml": ("comet_ml",), "clearml": ("clearml",), "dagshub": ("dagshub",), "dvclive": ("dvclive",),
    "neptune": ("neptune",), "codecarbon": ("codecarbon",), "azure_ml": ("azureml",), "swanlab": ("swanlab",),
    "trackio": ("trackio",),
}
#: the longest file name most file systems allow (bytes)
NAME_MAX = 255


def environment_problems(cfg: RunConfig, *, training: bool = True) -> list[str]:
    """Problems a run would hit only after loading the model and the data, found from the config, the file
    system and the installed packages (no model weights are loaded), each as ``run.toml: <key>: <message>``."""
    src = cfg.source
    out: list[str] = []
    if training:
        problem = output_dir_problem(cfg.resolve_path(cfg.output.dir))
        if problem:
            out.append(f"{src}: output.dir: {problem}")
        names = optimizer_names()
        if names and cfg.train.optim not in names:
            import difflib

            close = difflib.get_close_matches(cfg.train.optim, sorted(names), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            out.append(f"{src}: train.optim: {clip(repr(cfg.train.optim))} is not a transformers optimizer "
                       f"({hint}e.g. adamw_torch, adamw_torch_fused, sgd, adafactor)")
        out.extend(f"{src}: train.report_to: {p}" for p in report_to_problems(cfg.train.report_to))
    if cfg.model.attn == "flash_attention_2":
        problem = flash_attention_problem()
        if problem:
            out.append(f"{src}: model.attn: {problem}")
    out.extend(f"{src}: {p}" for p in _offline_problems(cfg))
    lora_targets = training and isinstance(cfg.tuner.targets, list) and cfg.tuner.method in ("lora", "qlora")
    folder = model_folder(cfg, build=lora_targets) if (training and cfg.data.packing is True) or lora_targets \
        else None
    if folder is not None:
        config = _read_config_json(folder)
        if training and cfg.data.packing is True and config is not None and "vision_config" in config:
            out.append(f"{src}: data.packing: a multimodal model uses its own position ids and cannot pack "
                       "samples; set data.packing = false (or \"auto\")")
        if lora_targets:
            assert isinstance(cfg.tuner.targets, list)
            modules = module_names(folder)
            if modules is not None:
                missing = [t for t in cfg.tuner.targets if not any(n == t or n.endswith(f".{t}") for n in modules)]
                if missing:
                    leaves = sorted({n.rsplit(".", 1)[-1] for n in modules
                                     if n and not n.rsplit(".", 1)[-1].isdigit()})
                    out.append(f"{src}: tuner.targets: {', '.join(clip(repr(t), 80) for t in missing)} not in the "
                               f"model's modules (its module names: {clip(', '.join(leaves), 400)}); "
                               "use those names, or targets = \"all\"")
    return out


def clip(text: str, limit: int = 200) -> str:
    from ftcore.config.messages import clip as _clip

    return _clip(text, limit)


def output_dir_problem(path: str) -> str | None:
    """Why a run could not create / write ``path`` (None when it can)."""
    import os

    p = Path(path)
    for part in p.parts:
        if len(part.encode("utf-8", "surrogateescape")) > NAME_MAX:
            return f"a folder name is longer than {NAME_MAX} bytes ({clip(part, 60)}); use a shorter name"
    if len(os.fsencode(os.path.abspath(path))) >= 4096:
        return "the path is longer than 4096 bytes; use a shorter one"
    resolved = p.resolve() if _exists(p) else Path(os.path.abspath(path))
    if resolved.parts[1:2] in (("proc",), ("sys",), ("dev",)):
        return f"{clip(path)} is under /{resolved.parts[1]}, which cannot hold a run's files; pick another folder"
    probe = resolved
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        return f"{clip(str(probe))} is a file, not a folder, so {clip(path)} cannot be created; pick another folder"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"{clip(str(probe))} is not writable; pick a folder you can write to"
    return None


def optimizer_names() -> set[str]:
    """transformers' ``OptimizerNames`` values, read from its source file (importing it would import torch);
    empty when transformers is not found."""
    import importlib.util
    import re

    spec = importlib.util.find_spec("transformers")
    if spec is None or not spec.submodule_search_locations:
        return set()
    file = Path(next(iter(spec.submodule_search_locations))) / "training_args.py"
    try:
        text = file.read_text(encoding="utf-8")
    except OSError:
        return set()
    match = re.search(r"class OptimizerNames\(.*?\):(.*?)\n(?:class |def |@)", text, re.S)
    if match is None:
        return set()
    return set(re.findall(r'^\s+[A-Z0-9_]+\s*=\s*"([^"]+)"', match.group(1), re.M))


def report_to_problems(names: list[str]) -> list[str]:
    import importlib.util

    out = []
    for name in names:
        if name in ("none", "all"):
            continue
        modules = REPORT_MODULES.get(name)
        if modules is None:
            out.append(f"unknown integration {clip(repr(name))} (use {', '.join(sorted(REPORT_MODULES))}, or [])")
        elif not any(importlib.util.find_spec(m) is not None for m in modules):
            out.append(f"{name!r} is not installed; pip install {modules[0]}, or remove it from report_to")
    return out


def flash_attention_problem() -> str | None:
    import importlib.util

    if importlib.util.find_spec("flash_attn") is None:
        return "flash_attention_2 needs the flash-attn package (pip install flash-attn); or use attn = \"sdpa\""
    try:
        import torch

        if not torch.cuda.is_available():
            return "flash_attention_2 needs a CUDA GPU and none is visible; use attn = \"sdpa\""
    except Exception:  # noqa: BLE001 - no torch: the run fails earlier with its own message
        return None
    return None


def _offline_problems(cfg: RunConfig) -> list[str]:
    from ftcore.data.loading import hf_cached, is_offline, ms_cached

    if not is_offline():
        return []
    out = []
    repo = cfg.model.repo
    if repo and not _is_dir(cfg.resolve_path(repo)) and _hf_model_cached(repo, cfg.model.revision) is None:
        out.append(f"model.repo: {clip(repo)} is not in the local hub cache and downloads are off "
                   "(HF_HUB_OFFLINE / FTCORE_OFFLINE); download it once online, or set model.path to a folder")
    for section in ("datasets", "validation"):
        for i, entry in enumerate(getattr(cfg.data, section)):
            drepo = getattr(entry, "repo", None)
            if drepo and hf_cached(drepo, None) is None and ms_cached(drepo, None) is None:
                out.append(f"data.{section}[{i}]: {clip(drepo)} is not in the local dataset caches and downloads "
                           "are off; download it once online, or give a local path")
    return out


def _hf_model_cached(repo: str, revision: str | None) -> str | None:
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(repo, "config.json", revision=revision)
    except Exception:  # noqa: BLE001 - an invalid repo id is simply not cached
        return None
    return found if isinstance(found, str) else None


def model_folder(cfg: RunConfig, *, build: bool = True) -> str | None:
    """The model's local folder when it is on disk already (nothing is downloaded), else None; ``build``: an
    embedded model (``builtin:``) is built into the cache when it is not there yet."""
    from ftcore.registry import get_catalog

    m = cfg.model
    if m.path and not m.path.startswith("builtin:"):
        folder = Path(cfg.resolve_path(m.path))
        return str(folder) if _is_file(folder / "config.json") else None
    if m.repo:
        found = _hf_model_cached(m.repo, m.revision)
        return str(Path(found).parent) if found else None
    if m.name and m.name in get_catalog().models:
        spec = get_catalog().models.get(m.name)
        if spec.path and spec.path.startswith("builtin:"):
            if not build:
                return None
            try:
                import contextlib
                import io

                from ftcore.models.hub import materialize_builtin

                with contextlib.redirect_stdout(io.StringIO()):  # libraries that print while importing
                    return materialize_builtin(spec.path.split(":", 1)[1])
            except Exception:  # noqa: BLE001 - checked again when the run loads it
                return None
        if spec.path and _is_dir(Path(spec.path).expanduser()):
            return str(Path(spec.path).expanduser())
        for repo in spec.hub.values():
            found = _hf_model_cached(repo, spec.revision)
            if found:
                return str(Path(found).parent)
    return None


def _read_config_json(folder: str) -> dict[str, Any] | None:
    import json

    try:
        data = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def module_names(folder: str) -> set[str] | None:
    """The model's module names, built from its config.json on the meta device (no weights read); None when
    the architecture cannot be built that way (remote code, no causal-LM class)."""
    import contextlib
    import io

    try:
        with contextlib.redirect_stdout(io.StringIO()):  # libraries that print while importing
            import torch
            from transformers import AutoConfig, AutoModelForCausalLM

            config = AutoConfig.from_pretrained(folder, trust_remote_code=False)
            with torch.device("meta"):
                model = AutoModelForCausalLM.from_config(config)
    except Exception:  # noqa: BLE001 - not buildable without its code: the run checks the targets itself
        return None
    return {name for name, _ in model.named_modules()}
