"""``ftcore serve CKPT|MODEL``: an OpenAI-compatible HTTP API for a trained checkpoint and its LoRA adapters."""

from __future__ import annotations

import argparse
import os

EPILOG = """\
CKPT is a checkpoint folder, a run folder, latest:<output dir> or best:<output dir>; MODEL a catalog name,
a model folder or a hub id. Prompts and stop words come from the template the run trained with.

examples:
  ftcore serve best:output
  ftcore serve best:output --served-name bot --adapter support=best:output/support
  FTCORE_API_KEY=sk-local ftcore serve best:output --host 0.0.0.0 --port 8000
  curl http://127.0.0.1:8000/v1/chat/completions -H 'Content-Type: application/json' \\
       -d '{"model": "best:output", "messages": [{"role": "user", "content": "Who are you?"}]}'
(docs/serve.md)
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from ftcore.serve.server import API_KEY_ENV, DEFAULT_HOST, DEFAULT_PORT

    p = subparsers.add_parser(
        "serve",
        help="serve a checkpoint over an OpenAI-compatible HTTP API",
        description="Serve a checkpoint (or a model) and its LoRA adapters over an OpenAI-compatible HTTP API.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("source", metavar="CKPT|MODEL", help="checkpoint, run folder, latest:<dir>, best:<dir> or model")
    p.add_argument("--host", default=DEFAULT_HOST,
                   help=f"address to listen on (default {DEFAULT_HOST}: this machine only)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument("--adapter", action="append", default=[], metavar="NAME=CKPT",
                   help="another LoRA checkpoint on the same base model, served as model NAME (repeatable)")
    p.add_argument("--served-name", metavar="NAME", help="the model name of CKPT|MODEL (default: as given)")
    p.add_argument("--api-key", metavar="KEY",
                   help=f"require 'Authorization: Bearer KEY' (default: ${API_KEY_ENV}; none: no key)")
    p.add_argument("--backend", choices=("transformers", "vllm"), default="transformers",
                   help="transformers (default, CPU or GPU, batches requests) or vllm (GPU, needs vllm installed)")
    p.add_argument("--max-batch-size", type=int, default=16, metavar="N",
                   help="most requests generated together (transformers backend, default 16)")
    p.add_argument("--max-model-len", type=int, metavar="N",
                   help="longest prompt + answer in tokens (default: the model's context)")
    p.add_argument("--allow-plugins", action="store_true",
                   help="load the local plugin files the checkpoint's run names (they run code; off by default)")
    p.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ftcore.errors import FtcoreError
    from ftcore.serve.backends import load_engine, require_serve_extra
    from ftcore.serve.models import parse_adapters
    from ftcore.serve.server import API_KEY_ENV, run_server

    require_serve_extra()
    if not 0 <= args.port <= 65535:
        raise FtcoreError(f"--port {args.port}: give a port between 0 and 65535")
    if args.max_batch_size < 1:
        raise FtcoreError(f"--max-batch-size {args.max_batch_size}: give 1 or more")
    api_key = args.api_key if args.api_key is not None else os.environ.get(API_KEY_ENV) or None
    engine = load_engine(args.source, parse_adapters(args.adapter), backend=args.backend,
                         served_name=args.served_name, max_batch_size=args.max_batch_size,
                         max_model_len=args.max_model_len, allow_plugins=args.allow_plugins)
    run_server(engine, host=args.host, port=args.port, api_key=api_key, log_level=args.log_level)
    return 0
