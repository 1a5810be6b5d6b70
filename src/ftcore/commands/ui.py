"""``ftcore ui``: a local web page to write a run.toml, train, watch the curves and chat (docs/ui.md)."""

from __future__ import annotations

import argparse
import sys


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "ui",
        help="web page: write a run.toml, train, watch loss curves, chat with a checkpoint",
        description="Serve a web page (needs: pip install 'ftcore[ui]') to choose a model, datasets and tuner, "
        "edit and validate the run.toml, start and stop training, watch the loss and eval curves and chat with "
        "a checkpoint. Run files and runs live under --dir.",
    )
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: this machine only; anything else prints a warning)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--dir", default=".", help="folder of the run files and their outputs (default: here)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ftcore.errors import MissingDependencyError

    try:
        import fastapi  # noqa: F401
        import uvicorn
    except ImportError:
        raise MissingDependencyError("ftcore ui", "'ftcore[ui]'") from None
    from ftcore.serve.server import is_local  # ftcore serve's loopback rule (127/8, ::1, localhost)
    from ftcore.ui.app import create_app

    if not is_local(args.host):
        print(f"warning: ftcore ui listens on {args.host}: anyone who can reach this address can start training "
              "runs and read the run files under --dir (there is no login); use the default 127.0.0.1 unless you "
              "mean it", file=sys.stderr)
    app = create_app(args.dir)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"ftcore ui: http://{shown}:{args.port}/  (run files and runs under {app.state.root}; Ctrl+C stops)",
          flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
