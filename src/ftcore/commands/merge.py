"""``ftcore merge CKPT``: merge a LoRA checkpoint into its base model and save the whole model (<ckpt>-merged)."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "merge",
        help="merge a LoRA checkpoint into its base model (saves <ckpt>-merged)",
        description="Merge a LoRA checkpoint into its base weights and save a complete model: safetensors, "
        "tokenizer, generation config, chat template, ftcore_run.toml (tuner.method = full).",
    )
    p.add_argument("ckpt", metavar="CKPT", help="checkpoint folder, run folder, latest:<dir> or best:<dir>")
    p.add_argument("--out", metavar="DIR", help="output folder (default: <ckpt>-merged next to the checkpoint)")
    p.add_argument("--dequantize", action="store_true",
                   help="QLoRA: merge into the full-precision base (outputs differ slightly from quantized+adapter)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.add_argument("--allow-plugins", action="store_true",
                   help="load the local plugin files the checkpoint's run names (they run code; off by default)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ftcore.inference.merge import merge_lora

    out = merge_lora(args.ckpt, args.out, dequantize=args.dequantize, overwrite=args.overwrite,
                     allow_plugins=args.allow_plugins)
    print(out)
    return 0
