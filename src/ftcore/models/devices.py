"""Where this process loads its model: the accelerator it has, its rank under torchrun, and the device map /
memory budget it loads with (DDP: one GPU per process; MP+DDP: a group of GPUs per process).

Reads only environment variables and (when asked) torch; imports nothing of ftcore above ``models``, so both the
model loader and the training launcher (:mod:`ftcore.training.distributed`, which re-exports these names) use it.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = [
    "accelerator",
    "is_distributed",
    "local_rank",
    "local_world_size",
    "mp_group",
    "process_device_map",
    "process_devices",
    "rank",
    "world_size",
]


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, "") or default)
    except ValueError:
        return default


def rank() -> int:
    """Global rank of this process (0 when not launched by torchrun)."""
    return _env_int("RANK", 0)


def local_rank() -> int:
    """Rank of this process on its node (0 when not launched by torchrun)."""
    return _env_int("LOCAL_RANK", 0)


def world_size() -> int:
    return _env_int("WORLD_SIZE", 1)


def local_world_size() -> int:
    return _env_int("LOCAL_WORLD_SIZE", 1)


def is_distributed() -> bool:
    """Launched by torchrun (or another launcher setting RANK / LOCAL_RANK) with more than one process."""
    return "RANK" in os.environ and "LOCAL_RANK" in os.environ and world_size() > 1


def accelerator() -> str:
    """``cuda``, ``mps`` or ``cpu``: the device this process computes on."""
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def mp_group(local_rank: int, local_world_size: int, n_gpus: int) -> list[int]:
    """The GPUs one process owns under MP+DDP: ``local_rank, local_rank + local_world_size, …`` (ms-swift's split).

    With 4 GPUs and 2 processes per node, process 0 owns GPUs 0 and 2, process 1 owns 1 and 3.
    """
    per_process = n_gpus // max(1, local_world_size)
    return [local_rank + i * local_world_size for i in range(per_process)]


def process_device_map(
    device_map: str | dict[str, Any] | None,
    max_memory: dict[str, str] | None,
    *,
    n_gpus: int,
    local_rank: int = 0,
    local_world_size: int = 1,
    distributed: bool = False,
) -> tuple[str | dict[str, Any] | None, dict[Any, str] | None, bool]:
    """``(device_map, max_memory, split)`` this process loads its model with.

    * no GPU: the values as given (``"auto"`` then keeps everything on the CPU);
    * one process: as given (``"auto"`` splits over every visible GPU; ``max_memory`` caps each);
    * DDP, one GPU per process: ``{"": local_rank}`` (each process holds a whole copy on its own GPU);
    * MP+DDP (``device_map`` set and at least 2 GPUs per process): the process's group :func:`mp_group`;
      ``"auto"`` is restricted to the group through ``max_memory`` (values given for a group's GPU kept, else
      ``max_memory`` keyed by position in the group, else no cap), an explicit map's device numbers are positions
      in the group (``0`` = the process's first GPU);
    * ``split`` is true when the model spans several GPUs in a distributed run (accelerate's device-map check
      must then be bypassed and DDP wraps the model without ``device_ids``).
    """
    if n_gpus <= 0 or not distributed:
        return device_map, (dict(max_memory) if max_memory else None), False
    group = mp_group(local_rank, local_world_size, n_gpus)
    if device_map in (None, "none") or len(group) < 2:
        return {"": local_rank}, None, False
    given = {str(k): v for k, v in (max_memory or {}).items()}
    if isinstance(device_map, dict):
        mapped = {name: group[dev] if isinstance(dev, int) and 0 <= dev < len(group) else dev
                  for name, dev in device_map.items()}
        return mapped, None, len({v for v in mapped.values() if isinstance(v, int)}) > 1
    budget: dict[Any, str] = {}
    for position, gpu in enumerate(group):
        value = given.get(str(gpu), given.get(str(position)))
        if value is None and given:
            value = min(given.values())
        if value is not None:
            budget[gpu] = value
    if not budget:
        import torch

        smallest = min(torch.cuda.get_device_properties(g).total_memory for g in group)
        budget = {gpu: f"{int(smallest * 0.9) // 2**20}MiB" for gpu in group}
    return device_map, budget, True


def process_devices(device_map: Any, max_memory: dict[str, str] | None) -> tuple[Any, Any]:
    """``model.device_map`` / ``model.max_memory`` as this process loads with (see :func:`process_device_map`);
    GPU numbers written as TOML keys (``"0"``) become ints, as accelerate wants them."""
    n_gpus = 0
    if is_distributed() or device_map not in (None, "none"):
        import torch

        n_gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    device_map, budget, _ = process_device_map(
        device_map, max_memory, n_gpus=n_gpus, local_rank=local_rank(),
        local_world_size=local_world_size(), distributed=is_distributed())
    if budget:
        budget = {int(k) if isinstance(k, str) and k.isdigit() else k: v for k, v in budget.items()}
    if isinstance(device_map, dict):
        device_map = {k: int(v) if isinstance(v, str) and v.isdigit() else v for k, v in device_map.items()}
    return device_map, budget
