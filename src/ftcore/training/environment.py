"""The process environment a run needs, written in one place.

accelerate and DeepSpeed read a few environment variables when they start; everything ftcore sets for them is
decided from the run's config by :func:`environment_for` (pure, testable) and written by
:func:`configure_environment` (the only function in ftcore that writes ``os.environ`` for a run). The trackers'
offline defaults (``train.report_to``) need the run folder, so they are decided later, by
:func:`tracker_environment_for`, and written by :func:`configure_tracker_environment`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftcore.models.devices import (
    accelerator,
    is_distributed,
    local_rank,
    local_world_size,
    process_device_map,
    world_size,
)

if TYPE_CHECKING:  # pragma: no cover
    from ftcore.config import RunConfig

__all__ = ["accelerator", "configure_environment", "configure_tracker_environment", "cpu_only", "deepspeed_on_cpu",
           "environment_for", "tracker_environment_for"]


def cpu_only() -> bool:
    """No accelerator: accelerate then needs ``cpu=True`` to run several processes (gloo), DeepSpeed excepted."""
    return accelerator() == "cpu"


def deepspeed_on_cpu(cfg: RunConfig) -> bool:
    """A multi-process DeepSpeed run on a machine without GPUs (DS_ACCELERATOR=cpu, gloo)."""
    return bool(cfg.train.deepspeed) and cpu_only() and world_size() > 1


def _model_spans_gpus(cfg: RunConfig) -> bool:
    """MP+DDP: a process's model spans its group of GPUs (accelerate must wrap it in DDP without device_ids)."""
    if not is_distributed() or cfg.model.device_map in (None, "none"):
        return False
    import torch

    n_gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    _, _, split = process_device_map(cfg.model.device_map, cfg.model.max_memory, n_gpus=n_gpus,
                                     local_rank=local_rank(), local_world_size=local_world_size(), distributed=True)
    return bool(split)


def environment_for(cfg: RunConfig) -> dict[str, str]:
    """The variables a run sets (``setdefault`` semantics for DS_ACCELERATOR: a user's own value wins).

    * ``DS_ACCELERATOR=cpu``: DeepSpeed on a machine without GPUs, before deepspeed is first imported;
    * ``ACCELERATE_USE_DEEPSPEED=true``: a multi-process DeepSpeed run on CPU, whose DeepSpeed state ftcore
      configures over gloo itself (accelerate finds no backend for DeepSpeed without CUDA);
    * ``ACCELERATE_BYPASS_DEVICE_MAP=true``: MP+DDP, a process's model spans several GPUs.
    """
    env: dict[str, str] = {}
    if cfg.train.deepspeed and cpu_only():
        env["DS_ACCELERATOR"] = os.environ.get("DS_ACCELERATOR", "cpu")
    if deepspeed_on_cpu(cfg):
        env["ACCELERATE_USE_DEEPSPEED"] = "true"
    if _model_spans_gpus(cfg):
        env["ACCELERATE_BYPASS_DEVICE_MAP"] = "true"
    return env


def configure_environment(cfg: RunConfig, environ: Any = None) -> dict[str, str]:
    """Write :func:`environment_for` into ``environ`` (default ``os.environ``); returns what was written."""
    env = environment_for(cfg)
    target = os.environ if environ is None else environ
    for key, value in env.items():
        target[key] = value
    return env


#: the values ftcore wrote into the process environment: a variable holding one of them is ftcore's default (from
#: an earlier run in this process), not the user's choice, and the next run replaces it
_WRITTEN: dict[str, str] = {}


def _users(environ: Any, key: str) -> bool:
    value = environ.get(key)
    return value is not None and value != _WRITTEN.get(key)


def tracker_environment_for(report_to: list[str], run_dir: str | Path, environ: Any = None) -> dict[str, str]:
    """The trackers' local / offline defaults, each only where the user has not set that variable:

    * wandb: ``WANDB_MODE=offline``, ``WANDB_DIR=<run>`` (``<run>/wandb/offline-run-*``), ``WANDB_PROJECT=ftcore``;
    * mlflow: ``MLFLOW_TRACKING_URI=file:<run>/mlruns`` (a file store; ``MLFLOW_ALLOW_FILE_STORE=true``, which
      MLflow 3 asks for), ``MLFLOW_EXPERIMENT_NAME=ftcore``;
    * swanlab: ``SWANLAB_MODE=offline`` (local files, ``swanlab sync`` uploads them; its "local" mode needs the
      swanboard dashboard), ``SWANLAB_LOG_DIR=<run>/swanlog`` (its project, ftcore, is an argument);
    * trackio: ``TRACKIO_DIR=<run>/trackio`` (trackio is local unless a Space is named);
    * aim takes its repository (the run folder) as an argument, tensorboard writes ``<run>/logs``: nothing to set.
    """
    environ = os.environ if environ is None else environ
    run = Path(run_dir).resolve()
    wanted: dict[str, dict[str, str]] = {
        "wandb": {"WANDB_MODE": "offline", "WANDB_DIR": str(run), "WANDB_PROJECT": "ftcore"},
        "mlflow": {"MLFLOW_TRACKING_URI": (run / "mlruns").as_uri(), "MLFLOW_EXPERIMENT_NAME": "ftcore"},
        "swanlab": {"SWANLAB_MODE": "offline", "SWANLAB_LOG_DIR": str(run / "swanlog")},
        "trackio": {"TRACKIO_DIR": str(run / "trackio")},
    }
    env: dict[str, str] = {}
    for name in report_to:
        for key, value in wanted.get(name, {}).items():
            if not _users(environ, key):
                env[key] = value
    if env.get("MLFLOW_TRACKING_URI", "").startswith("file:") and not _users(environ, "MLFLOW_ALLOW_FILE_STORE"):
        env["MLFLOW_ALLOW_FILE_STORE"] = "true"
    return env


def configure_tracker_environment(cfg: RunConfig, run_dir: str | Path, environ: Any = None) -> dict[str, str]:
    """Write :func:`tracker_environment_for` into ``environ`` (default ``os.environ``); returns what was written."""
    target = os.environ if environ is None else environ
    env = tracker_environment_for(list(cfg.train.report_to), run_dir, target)
    for key, value in env.items():
        target[key] = value
        if environ is None:
            _WRITTEN[key] = value
    return env
