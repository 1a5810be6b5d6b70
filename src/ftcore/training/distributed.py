"""Several processes and several devices: torchrun launching, process identity, per-process device maps
(model parallel, MP+DDP) and DeepSpeed configurations.

Everything here runs through the existing engines — torchrun (``torch.distributed.run``) for DDP, the
transformers/accelerate DeepSpeed integration for ZeRO, accelerate's ``device_map`` for splitting a model — ftcore
only decides their arguments. Importing this module is light (no torch): ``ftcore train --nproc-per-node`` hands
over to torchrun before anything heavy is imported.

    ftcore train run.toml --nproc-per-node 2          # = torchrun --nproc-per-node 2 -m ftcore train run.toml
    torchrun --nproc-per-node 2 -m ftcore train run.toml
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from ftcore.errors import FtcoreError

#: the shipped DeepSpeed configurations (``train.deepspeed = "zero2"`` …), ``"auto"`` values filled by transformers
DS_CONFIG_DIR = Path(__file__).with_name("ds_configs")
DS_PRESETS = ("zero2", "zero3", "zero2-offload", "zero3-offload")

__all__ = [
    "DS_CONFIG_DIR",
    "DS_PRESETS",
    "deepspeed_config_path",
    "is_distributed",
    "is_main_process",
    "launch",
    "local_rank",
    "local_world_size",
    "mp_group",
    "process_device_map",
    "rank",
    "torchrun_command",
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


def is_main_process() -> bool:
    """Rank 0 (the only process that writes logs, plots, the manifest and result.json)."""
    return rank() == 0


# ------------------------------------------------------------------------------------------------ launching


def torchrun_command(
    config: str,
    overrides: list[str] | tuple[str, ...] = (),
    *,
    nproc_per_node: int,
    nnodes: int = 1,
    node_rank: int = 0,
    master_addr: str | None = None,
    master_port: int | None = None,
    python: str | None = None,
) -> list[str]:
    """The torchrun command line that runs ``ftcore train config`` in ``nproc_per_node`` processes per node."""
    if nproc_per_node < 1:
        raise FtcoreError(f"--nproc-per-node: must be >= 1 (got {nproc_per_node})")
    if nnodes < 1:
        raise FtcoreError(f"--nnodes: must be >= 1 (got {nnodes})")
    if not 0 <= node_rank < nnodes:
        raise FtcoreError(f"--node-rank: must be between 0 and {nnodes - 1} (got {node_rank})")
    if nnodes > 1 and not master_addr:
        raise FtcoreError("--master-addr: several nodes need the address of node 0 (e.g. --master-addr 10.0.0.1)")
    cmd = [python or sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={nproc_per_node}"]
    if nnodes == 1 and not master_addr and master_port is None:
        cmd.append("--standalone")  # one machine: a local rendezvous on a free port (several runs can share it)
    else:
        cmd += [f"--nnodes={nnodes}", f"--node-rank={node_rank}"]
        if master_addr:
            cmd.append(f"--master-addr={master_addr}")
        cmd.append(f"--master-port={master_port if master_port is not None else 29500}")
    cmd += ["-m", "ftcore", "train", str(config)]
    for text in overrides:
        cmd += ["--set", text]
    return cmd


def launch(config: str, overrides: list[str] | tuple[str, ...] = (), **kwargs: Any) -> int:
    """Run ``ftcore train`` under torchrun and wait; returns torchrun's exit code."""
    cmd = torchrun_command(config, overrides, **kwargs)
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // max(1, kwargs["nproc_per_node"]))))
    print("launching: " + " ".join(cmd[1:]), file=sys.stderr, flush=True)
    try:
        return subprocess.call(cmd, env=env)
    except KeyboardInterrupt:  # torchrun forwards the signal to its workers
        return 130


# ------------------------------------------------------------------------------------------------ devices


def mp_group(local_rank: int, local_world_size: int, n_gpus: int) -> list[int]:
    """The GPUs one process owns under MP+DDP: ``local_rank, local_rank + local_world_size, …`` (the seed's split).

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


# ------------------------------------------------------------------------------------------------ DeepSpeed


def deepspeed_config_path(value: str, base_dir: str = ".", source: str = "run.toml") -> str:
    """``train.deepspeed`` → a DeepSpeed JSON file: a shipped preset (``zero2``, ``zero3``, ``zero2-offload``,
    ``zero3-offload``) or a path relative to run.toml."""
    if value in DS_PRESETS:
        path = DS_CONFIG_DIR / f"{value}.json"
        if not path.is_file():  # pragma: no cover - a broken installation
            raise FtcoreError(f"{source}: train.deepspeed: preset {value} is missing from this installation")
        return str(path)
    path = Path(os.path.expanduser(value))
    if not path.is_absolute():
        path = Path(base_dir) / path
    if not path.is_file():
        raise FtcoreError(
            f"{source}: train.deepspeed: {value} not found (use {', '.join(DS_PRESETS)} or a DeepSpeed .json file)"
        )
    import json

    try:
        json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FtcoreError(f"{source}: train.deepspeed: {value} is not valid JSON ({exc})") from None
    return str(path)


def check_deepspeed_installed() -> None:
    """A one-line error with the pip command when DeepSpeed is missing."""
    import importlib.util

    if importlib.util.find_spec("deepspeed") is None:
        from ftcore.errors import MissingDependencyError

        raise MissingDependencyError("train.deepspeed", "'ftcore[deepspeed]'")
