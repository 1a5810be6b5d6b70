"""Shared helpers of the bad-input corpus: run the real CLI in-process and check that every message is one line."""

from __future__ import annotations

from typing import Any

import pytest

from ftcore.cli import main


def run_cli(capsys: Any, *argv: str) -> tuple[int, str, str]:
    """``ftcore ARGV`` in-process: (exit status, stdout, stderr)."""
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def error_lines(err: str) -> list[str]:
    """The ``error: …`` lines of stderr; asserts no traceback and nothing but one-line errors and log lines."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert lines, err
    return lines


@pytest.fixture
def cli(capsys: Any):  # type: ignore[no-untyped-def]
    def call(*argv: str) -> tuple[int, str, str]:
        return run_cli(capsys, *argv)

    return call
