"""The process environment a run needs, written in one place.

accelerate and DeepSpeed read a few environment variables when they start; everything ftcore sets for them is
decided from the run's config by :func:`environment_for` (pure, testable) and written by
:func:`configure_environment` (the only function in ftcore that writes ``os.environ`` for a run).
"""

from __future__ import annotations

import os
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

__all__ = ["accelerator", "configure_environment", "cpu_only", "deepspeed_on_cpu", "environment_for"]


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
