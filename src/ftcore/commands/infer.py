"""``ftcore infer CKPT``: talk to a trained checkpoint — one query, an interactive chat, or validation samples."""

from __future__ import annotations

import argparse

from ftcore.commands import add_generation_args, generation_kwargs

EPILOG = """\
CKPT is a checkpoint folder, a run folder, latest:<output dir> or best:<output dir>.
Generation settings default to the run's [generation] section.

examples:
  ftcore infer best:output --query "who are you?"
  ftcore infer latest:output --chat
  ftcore infer best:output --image cat.png --query "<image>What is in the picture?"
  ftcore infer output/my-model/v0-20261128-101500/checkpoint-100 --dataset-sample 5 --greedy
  ftcore infer best:output-rm --score pairs.jsonl      # a reward model: one score per input line
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "infer",
        help="answer with a trained checkpoint (query, chat or validation samples)",
        description="Answer with a trained checkpoint, using the template it was trained with.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("ckpt", metavar="CKPT", help="checkpoint folder, run folder, latest:<dir> or best:<dir>")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--query",
        "-q",
        action="append",
        metavar="TEXT",
        help="answer this query and exit (repeatable; each is answered on its own)",
    )
    mode.add_argument("--chat", action="store_true", help="interactive multi-turn chat ('clear', 'exit')")
    mode.add_argument(
        "--dataset-sample",
        type=int,
        metavar="N",
        help="show N validation samples: prompt, prediction, reference (the default, N = 10)",
    )
    mode.add_argument(
        "--score",
        metavar="FILE",
        help="reward-model checkpoints (train.stage = rm): print one score per input of FILE ('-' = stdin): "
        'JSON lines {"prompt", "answer"} / {"messages"} / {"text"}, or plain text lines',
    )
    p.add_argument("--batch-size", type=int, default=None, metavar="N",
                   help="--dataset-sample: samples per generate call (default 8; 1 = one at a time, streamed)")
    p.add_argument("--system", help="system prompt (default: the one the run trained with)")
    p.add_argument("--image", action="append", metavar="PATH",
                   help="an image for the query (repeatable; multimodal checkpoints; in --chat: for the first "
                        "message, later ones take '/image PATH' lines)")
    p.add_argument("--merge", action="store_true", default=None,
                   help="merge the LoRA into the base first, save <ckpt>-merged and answer with it (infer.merge_lora)")
    p.add_argument("--allow-plugins", action="store_true",
                   help="load the local plugin files the checkpoint's run names (they run code; off by default)")
    add_generation_args(p)
    p.add_argument(
        "--no-stream", dest="stream", action="store_false", help="print each answer when it is complete"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ftcore.inference import infer_main

    ckpt = args.ckpt
    from ftcore.inference.scoring import check_score_mode

    if check_score_mode(ckpt, args.score, allow_plugins=args.allow_plugins):
        return 0
    merge = args.merge
    if merge is None:
        from ftcore.inference.checkpoint import checkpoint_config, resolve_checkpoint

        merge = checkpoint_config(resolve_checkpoint(ckpt)).infer.merge_lora
    if merge:
        from ftcore.inference.checkpoint import is_adapter, resolve_checkpoint
        from ftcore.inference.merge import merge_lora

        if is_adapter(resolve_checkpoint(ckpt)):
            ckpt = str(merge_lora(ckpt, allow_plugins=args.allow_plugins))
    infer_main(
        ckpt,
        args.query,
        chat=args.chat,
        dataset_sample=args.dataset_sample,
        batch_size=args.batch_size,
        system=args.system,
        images=args.image,
        stream=args.stream,
        seed=args.seed,
        allow_plugins=args.allow_plugins,
        **generation_kwargs(args),
    )
    return 0
