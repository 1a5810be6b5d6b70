"""Pre-flight checks: what a run would otherwise find only after loading the model and the data — the output
folder, the optimizer name, the ``report_to`` integrations, flash-attention, offline hub caches, LoRA target names
(from config.json, no weights), packing with a multimodal model. ``ftcore validate`` and ``ftcore train`` run them
through :mod:`ftcore.validation`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ftcore.config import RunConfig
from ftcore.config.messages import clip

__all__ = ["context_parallel_problem", "environment_problems", "exists", "flash_attention_problem", "is_dir",
           "is_file", "model_folder", "module_installed", "module_names", "optimizer_names", "output_dir_problem",
           "report_to_problems"]


def exists(path: str | Path) -> bool:
    """``Path.exists`` that says False for a path the system cannot even look at (a name too long …)."""
    try:
        return Path(path).exists()
    except (OSError, ValueError):
        return False


def is_dir(path: str | Path) -> bool:
    try:
        return Path(path).is_dir()
    except (OSError, ValueError):
        return False


def is_file(path: str | Path) -> bool:
    try:
        return Path(path).is_file()
    except (OSError, ValueError):
        return False


#: ``train.report_to`` integrations → the modules that provide them (any one of them)
REPORT_MODULES = {
    "tensorboard": ("tensorboard", "tensorboardX"), "wandb": ("wandb",), "mlflow": ("mlflow",),
    "comet_ml": ("comet_ml",), "clearml": ("clearml",), "dagshub": ("dagshub",), "dvclive": ("dvclive",),
    "neptune": ("neptune",), "codecarbon": ("codecarbon",), "azure_ml": ("azureml",), "swanlab": ("swanlab",),
    "trackio": ("trackio",), "aim": ("aim",),
}
#: the trackers ftcore ships an optional extra for: ``pip install "ftcore[<name>]"`` (docs/tracking.md)
TRACKER_EXTRAS = ("tensorboard", "wandb", "mlflow", "swanlab", "trackio", "aim")
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
        problem = context_parallel_problem(cfg.train.context_parallel)
        if problem:
            out.append(f"{src}: train.context_parallel: {problem}")
        if cfg.train.fsdp == "offload":
            from ftcore.models.devices import accelerator

            if accelerator() == "cpu":
                out.append(f"{src}: train.fsdp: offload moves shards between the GPUs and the CPU, and this "
                           "machine has no GPU; use full_shard")
        if cfg.train.liger:
            problem = liger_problem()
            if problem:
                out.append(f"{src}: train.liger: {problem}")
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


def context_parallel_problem(parts: int, world_size: int | None = None) -> str | None:
    """``train.context_parallel = parts`` against the processes of this launch (``WORLD_SIZE``; 1 when the
    process was not started by torchrun): they must be a multiple of ``parts``."""
    import os

    if parts <= 1:
        return None
    world = world_size if world_size is not None else int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world % parts == 0:
        return None
    return (f"{parts} processes share each sequence but this run has {world}; launch a multiple of {parts} "
            f"(ftcore train run.toml --nproc-per-node {parts})")


def output_dir_problem(path: str) -> str | None:
    """Why a run could not create / write ``path`` (None when it can)."""
    import os

    p = Path(path)
    for part in p.parts:
        if len(part.encode("utf-8", "surrogateescape")) > NAME_MAX:
            return f"a folder name is longer than {NAME_MAX} bytes ({clip(part, 60)}); use a shorter name"
    if len(os.fsencode(os.path.abspath(path))) >= 4096:
        return "the path is longer than 4096 bytes; use a shorter one"
    resolved = p.resolve() if exists(p) else Path(os.path.abspath(path))
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
    """Why ``train.report_to`` cannot work: an unknown integration, one whose package is missing (naming the
    ftcore extra that installs it), or ``"none"`` next to a tracker."""
    out = []
    if "none" in names and len(set(names)) > 1:
        out.append('"none" turns every tracker off; use ["none"] alone (or [])')
    for name in names:
        if name in ("none", "all"):
            continue
        modules = REPORT_MODULES.get(name)
        if modules is None:
            out.append(f"unknown integration {clip(repr(name))} (use {', '.join(sorted(REPORT_MODULES))}, or [])")
        elif not any(module_installed(m) for m in modules):
            what = f'"ftcore[{name}]"' if name in TRACKER_EXTRAS else modules[0]
            out.append(f"{name!r} is not installed; pip install {what}, or remove it from report_to")
    return out


def module_installed(name: str) -> bool:
    """Whether ``name`` can be imported (found without importing it)."""
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False
def liger_problem() -> str | None:
    """Why ``train.liger`` cannot run here: liger-kernel not installed, or no CUDA GPU (its kernels are triton)."""
    return _cuda_package_problem(
        "liger_kernel", "Liger kernels need the liger-kernel package (pip install liger-kernel; CUDA GPUs only); or "
        "set train.liger = false", "Liger kernels run on CUDA GPUs (triton) and none is visible; set train.liger = false")


def flash_attention_problem() -> str | None:
    return _cuda_package_problem(
        "flash_attn", "flash_attention_2 needs the flash-attn package (pip install flash-attn); or use attn = \"sdpa\"",
        "flash_attention_2 needs a CUDA GPU and none is visible; use attn = \"sdpa\"")


def _cuda_package_problem(module: str, missing: str, no_gpu: str) -> str | None:
    """``missing`` when ``module`` is not installed, ``no_gpu`` when torch sees no CUDA GPU, else None."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        return missing
    try:
        import torch

        if not torch.cuda.is_available():
            return no_gpu
    except Exception:  # noqa: BLE001 - no torch: the run fails earlier with its own message
        return None
    return None


def _offline_problems(cfg: RunConfig) -> list[str]:
    from ftcore.data.hub import hf_cached, ms_cached
    from ftcore.data.loading import is_offline

    if not is_offline():
        return []
    out = []
    repo = cfg.model.repo
    if repo and not is_dir(cfg.resolve_path(repo)) and _hf_model_cached(repo, cfg.model.revision) is None:
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
        return str(folder) if is_file(folder / "config.json") else None
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
        if spec.path and is_dir(Path(spec.path).expanduser()):
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
