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

# rank / device helpers live with the model loader (which needs them and must not import training)
from ftcore.models.devices import (
    is_distributed,
    local_rank,
    local_world_size,
    mp_group,
    process_device_map,
    rank,
    world_size,
)

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
