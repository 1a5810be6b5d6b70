"""``ftcore push CKPT``: upload a checkpoint (or a merged model) to a hub after training."""

from __future__ import annotations

import argparse

EPILOG = """\
The token comes from the environment (MODELSCOPE_API_TOKEN for modelscope, HF_TOKEN for huggingface), never from
the command line; other settings default to the run's [hub] section.

examples:
  HF_TOKEN=... ftcore push best:output --hub huggingface --model-id me/my-model
  ftcore push output/my-model/v0-20261128-101500/checkpoint-100-merged --hub local --local-dir /shared/models
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "push",
        help="upload a checkpoint to ModelScope, Hugging Face or a shared folder",
        description="Upload a checkpoint's model files (and a model card if the repo has none) to a hub.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("ckpt", metavar="CKPT", help="checkpoint folder, run folder, latest:<dir> or best:<dir>")
    p.add_argument("--hub", choices=("modelscope", "huggingface", "local"), help="default: the run's hub.hub")
    p.add_argument("--model-id", help="repo id (default: the run's hub.model_id, else <model>-<tuner>)")
    vis = p.add_mutually_exclusive_group()
    vis.add_argument("--private", dest="private", action="store_true", default=None, help="create the repo private")
    vis.add_argument("--public", dest="private", action="store_false", help="create the repo public")
    p.add_argument("--local-dir", help="target folder for --hub local")
    p.add_argument("--message", default="Upload model", help="commit message")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ftcore.training.hub import push_checkpoint

    push_checkpoint(args.ckpt, hub=args.hub, model_id=args.model_id, private=args.private,
                    local_dir=args.local_dir, message=args.message)
    return 0
