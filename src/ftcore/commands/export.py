"""``ftcore export CKPT --to FORMAT``: a checkpoint as GGUF, an Ollama model, safetensors, bitsandbytes, GPTQ or AWQ."""

from __future__ import annotations

import argparse
import shlex
import sys

from ftcore.export.main import FORMATS  # stdlib only at import: ftcore --help stays fast


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export",
        help="export a checkpoint: gguf, ollama, safetensors, bnb, gptq, awq (LoRA merged first)",
        description="Export a checkpoint for deployment (LoRA checkpoints are merged into their base first). Every "
        "export writes README.md (model card) and is written to a temporary folder, then renamed. See docs/export.md.",
    )
    p.add_argument("ckpt", metavar="CKPT", help="checkpoint folder, run folder, latest:<dir> or best:<dir>")
    p.add_argument("--to", required=True, choices=FORMATS, metavar="FORMAT", help=f"one of {', '.join(FORMATS)}")
    p.add_argument("--out", metavar="DIR", help="output folder (default: <ckpt>-<format>[-<quant>] next to it)")
    p.add_argument("--quant", metavar="Q", help="gguf/ollama: f16 (gguf default), q8_0 (ollama default), bf16, f32, "
                   "q5_1, q5_0, q4_1, q4_0; bnb: nf4 (default), fp4, int8; gptq: int4 (default), int8; awq: int4")
    p.add_argument("--max-shard-size", default="5GB", metavar="SIZE", help="safetensors shard size (default 5GB)")
    p.add_argument("--calib-dataset", metavar="NAME|FILE",
                   help="gptq/awq calibration data (default: the run's validation data)")
    p.add_argument("--calib-samples", type=int, default=128, metavar="N", help="gptq/awq calibration rows (128)")
    p.add_argument("--dequantize", action="store_true", help="QLoRA: merge into the full-precision base")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.add_argument("--allow-plugins", action="store_true",
                   help="load the local plugin files the checkpoint's run names (they run code; off by default)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ftcore.export.main import export_checkpoint

    out = export_checkpoint(
        args.ckpt, args.to, args.out, quant=args.quant, max_shard_size=args.max_shard_size,
        calib_dataset=args.calib_dataset, calib_samples=args.calib_samples, dequantize=args.dequantize,
        overwrite=args.overwrite, allow_plugins=args.allow_plugins,
        command=shlex.join(["ftcore", *sys.argv[1:]]) if sys.argv[1:2] == ["export"] else None,
    )
    print(out)
    return 0
