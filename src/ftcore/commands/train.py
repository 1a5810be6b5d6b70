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
    # Multi-process launching (torchrun): --nproc-per-node / --nnodes are added here by the scale work (issue 7);
    # run() hands over to the launcher before anything heavy is imported when they are given.
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ftcore.training import train

    result = train(args.config, args.set)
    print(f"output: {result.output_dir}")
    print(f"best checkpoint: {result.best_checkpoint}")
    print(f"last checkpoint: {result.last_checkpoint}")
    return 0
