"""``ftcore eval CKPT``: generate on the validation set and score ROUGE-1/2/L and BLEU-4; write a JSON report.
A preference-stage checkpoint (dpo, kto, orpo, simpo, cpo, rm) reports its rewards on the validation data instead
(docs/alignment.md)."""

from __future__ import annotations

import argparse

from ftcore.commands import add_generation_args, generation_kwargs

EPILOG = """\
The report (default <ckpt>/eval_report.json) holds the averaged metrics and every prompt, prediction and reference.
A preference-stage checkpoint (train.stage = dpo, kto, orpo, simpo, cpo, rm) is scored on its validation data
instead, with the stage's own reward (dpo / kto: beta x log-ratio to the reference model; orpo / simpo / cpo:
beta x the answer's log-prob; rm: the score head): reward accuracy, margins, chosen / rejected rewards, log-probs.
Needs the metrics extra: pip install 'ftcore[metrics]'.

examples:
  ftcore eval best:output --sample 50 --greedy
  ftcore eval output/my-model/v0-20261128-101500/checkpoint-100 --dataset data/test.jsonl --out report.json
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "eval",
        help="score a checkpoint by generation (ROUGE-L, BLEU-4) on validation data",
        description="Generate answers for validation samples and score them (ROUGE-1/2/L on jieba words, BLEU-4).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("ckpt", metavar="CKPT", help="checkpoint folder, run folder, latest:<dir> or best:<dir>")
    p.add_argument("--dataset", action="append", metavar="NAME_OR_FILE",
                   help="evaluate every row of this dataset instead of the run's validation split (repeatable)")
    p.add_argument("--sample", type=int, metavar="N", help="evaluate the first N samples only")
    p.add_argument("--out", metavar="FILE", help="report file (default <ckpt>/eval_report.json)")
    p.add_argument("--batch-size", type=int, default=None, metavar="N",
                   help="samples per generate call (default 8; 1 = one at a time); a preference checkpoint: "
                   "pairs per batch (default: the run's eval batch size)")
    p.add_argument("--overwrite-generation-config", action="store_true", default=None,
                   help="write the generation settings into the checkpoint's generation_config.json")
    p.add_argument("--allow-plugins", action="store_true",
                   help="load the local plugin files the checkpoint's run names (they run code; off by default)")
    add_generation_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from transformers import set_seed

    from ftcore.inference.checkpoint import checkpoint_config, resolve_checkpoint
    from ftcore.inference.evaluate import evaluate_checkpoint

    set_seed(args.seed)
    stage = checkpoint_config(resolve_checkpoint(args.ckpt)).train.stage
    if stage != "sft":  # a preference stage: reward accuracy and margins
        from ftcore.training.stages.evaluate import evaluate_preference_checkpoint, preference_recipe

        if preference_recipe(stage) is not None:
            evaluate_preference_checkpoint(args.ckpt, datasets=args.dataset, sample=args.sample, out=args.out,
                                           allow_plugins=args.allow_plugins, batch_size=args.batch_size)
            return 0
    evaluate_checkpoint(
        args.ckpt,
        datasets=args.dataset,
        sample=args.sample,
        out=args.out,
        overwrite_generation_config=args.overwrite_generation_config,
        allow_plugins=args.allow_plugins,
        batch_size=args.batch_size,
        **generation_kwargs(args),
    )
    return 0
