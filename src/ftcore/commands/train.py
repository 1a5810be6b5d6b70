"""``ftcore train run.toml [--set section.key=value ...]``: fine-tune as the run file says."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="fine-tune a model as run.toml says",
        description="Fine-tune a model as run.toml says; writes output/<model>/v<N>-<time>/.",
    )
    p.add_argument("config", help="path to run.toml")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a value of the file (repeatable), e.g. --set train.max_steps=10")
    p.add_argument("--trust-remote-code", action="store_true",
                   help="allow the model folder's own Python code to run (model.trust_remote_code = true)")
    # Multi-process launching: run() hands over to torchrun before anything heavy is imported.
    d = p.add_argument_group("several processes (DDP / DeepSpeed, launched with torchrun)")
    d.add_argument("--nproc-per-node", type=int, default=1, metavar="N",
                   help="training processes on this machine (usually one per GPU); > 1 launches torchrun")
    d.add_argument("--nnodes", type=int, default=1, metavar="N", help="machines taking part (default 1)")
    d.add_argument("--node-rank", type=int, default=0, metavar="I", help="this machine's index, 0 .. nnodes-1")
    d.add_argument("--master-addr", default=None, metavar="HOST", help="address of machine 0 (several machines)")
    d.add_argument("--master-port", type=int, default=None, metavar="PORT",
                   help="port on machine 0 (default: a free port on one machine, 29500 on several)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import os

    if getattr(args, "trust_remote_code", False):
        args.set = [*args.set, "model.trust_remote_code=true"]

    nproc = getattr(args, "nproc_per_node", 1) or 1
    nnodes = getattr(args, "nnodes", 1) or 1
    if (nproc > 1 or nnodes > 1) and "LOCAL_RANK" not in os.environ:
        from ftcore.training.distributed import launch

        return launch(args.config, args.set, nproc_per_node=nproc, nnodes=nnodes, node_rank=args.node_rank,
                      master_addr=args.master_addr, master_port=args.master_port)
    from ftcore.training import train

    result = train(args.config, args.set)
    if os.environ.get("RANK", "0") not in ("", "0"):
        return 0  # rank 0 reports
    print(f"output: {result.output_dir}")
    print(f"best checkpoint: {result.best_checkpoint}")
    print(f"last checkpoint: {result.last_checkpoint}")
    return 0
