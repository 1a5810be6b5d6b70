"""The ``ftcore`` command: a thin argparse shell over one module per sub-command in ``ftcore.commands``.

Each command module defines ``add_parser(subparsers)`` and ``run(args) -> int`` and imports nothing heavy at
module level, so ``ftcore --help`` and the listing commands never load torch. Errors derived from
:class:`ftcore.FtcoreError` are printed as one message without a traceback; ``FTCORE_DEBUG=1`` first prints the
traceback of the exception behind it (a plugin's own, or the error's when it has no cause).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from collections.abc import Sequence

from ftcore import __version__
from ftcore.errors import FtcoreError, debug_enabled, original_exceptions, print_traceback

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
    "ftcore.commands.stages",
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command."""
    parser = argparse.ArgumentParser(
        prog="ftcore",
        description="Fine-tune large language models from one TOML file.",
        epilog="Start with: ftcore train examples/quickstart.toml",
    )
    parser.add_argument("--version", action="version", version=f"ftcore {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).add_parser(subparsers)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None):  # type: ignore[no-untyped-def]
    """ftcore's own warnings as ``warning: <message>``; others keep Python's format."""
    if category.__module__.startswith("ftcore"):
        print(f"warning: {message}", file=sys.stderr if file is None else file)
    else:
        warnings._showwarnmsg_impl(  # type: ignore[attr-defined]
            warnings.WarningMessage(message, category, filename, lineno, file, line)
        )


def _close_progress_bars() -> None:
    """End any progress bar still open (an error raised mid-training), so the error starts on its own line."""
    tqdm_module = sys.modules.get("tqdm.std")
    if tqdm_module is None:  # no bar was ever shown: nothing to import
        return
    for bar in list(getattr(tqdm_module.tqdm, "_instances", ())):
        bar.close()


def print_error(exc: FtcoreError) -> None:
    """Print a user error without traceback: ``error: <line>`` for each line of its message."""
    _close_progress_bars()
    for line in str(exc).splitlines() or [type(exc).__name__]:
        print(f"error: {line}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``ftcore`` command; returns the exit status (2 for a user error, 130 when interrupted)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    previous_show_warning, warnings.showwarning = warnings.showwarning, _show_warning
    try:
        return int(args.func(args) or 0)
    except FtcoreError as exc:
        if debug_enabled():  # the exception behind the message (a plugin's, pointing into its file), not ours
            for original in original_exceptions(exc):
                print_traceback(original)
        print_error(exc)
        return int(getattr(exc, "exit_code", 2))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `ftcore models | head`: the reader went away; not an error
        sys.stderr.close()
        return 0
    finally:
        warnings.showwarning = previous_show_warning


if __name__ == "__main__":
    raise SystemExit(main())
