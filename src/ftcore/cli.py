"""The ``ftcore`` command: a thin argparse shell over one module per sub-command in ``ftcore.commands``.

Each command module defines ``add_parser(subparsers)`` and ``run(args) -> int`` and imports nothing heavy at
module level, so ``ftcore --help`` and the listing commands never load torch. Errors derived from
:class:`ftcore.FtcoreError` are printed as one message without a traceback (``FTCORE_DEBUG=1`` shows it).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from ftcore import __version__
from ftcore.errors import FtcoreError

#: sub-command modules, in the order ``ftcore --help`` lists them
COMMAND_MODULES: tuple[str, ...] = (
    "ftcore.commands.train",
    "ftcore.commands.infer",
    "ftcore.commands.eval",
    "ftcore.commands.merge",
    "ftcore.commands.push",
    "ftcore.commands.validate",
    "ftcore.commands.catalog",
    "ftcore.commands.template",
    "ftcore.commands.plugins",
    "ftcore.commands.config",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ftcore",
        description="Fine-tune large language models from one TOML file.",
        epilog="Start with: ftcore train examples/quickstart.toml",
    )
    parser.add_argument("--version", action="version", version=f"ftcore {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:  # command not built yet
                continue
            raise
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    debug = os.environ.get("FTCORE_DEBUG", "") not in ("", "0")
    try:
        return int(args.func(args) or 0)
    except FtcoreError as exc:
        if debug:
            raise
        print(f"error: {exc}" if "\n" not in str(exc) else f"error:\n{exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
