"""``ftcore eval CKPT``: generate on the validation set and score ROUGE-1/2/L and BLEU-4; write a JSON report."""

from __future__ import annotations

import argparse

EPILOG = """\
The report (default <ckpt>/eval_report.json) holds the averaged metrics and every prompt, prediction and reference.
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
    p.add_argument("--overwrite-generation-config", action="store_true", default=None,
                   help="write the generation settings into the checkpoint's generation_config.json")
    g = p.add_argument_group("generation (default: the run's [generation])")
    g.add_argument("--max-new-tokens", type=int, metavar="N")
    sample = g.add_mutually_exclusive_group()
    sample.add_argument("--do-sample", dest="do_sample", action="store_true", default=None, help="sample")
    sample.add_argument("--greedy", dest="do_sample", action="store_false", help="greedy decoding")
    g.add_argument("--temperature", type=float)
    g.add_argument("--top-k", type=int)
    g.add_argument("--top-p", type=float)
    g.add_argument("--repetition-penalty", type=float)
    g.add_argument("--seed", type=int, default=42, help="random seed for sampling (default 42)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from transformers import set_seed

    from ftcore.inference.evaluate import evaluate_checkpoint

    set_seed(args.seed)
    evaluate_checkpoint(
        args.ckpt,
        datasets=args.dataset,
        sample=args.sample,
        out=args.out,
        overwrite_generation_config=args.overwrite_generation_config,
        max_new_tokens=args.max_new_tokens,
        do_sample=args.do_sample,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        repetition_penalty=args.repetition_penalty,
    )
    return 0
