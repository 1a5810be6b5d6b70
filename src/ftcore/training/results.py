"""What a training run ends with: :class:`TrainResult`, or :class:`RunInterrupted` when a signal stopped it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ftcore.errors import FtcoreError

__all__ = ["RunInterrupted", "TrainResult"]


class RunInterrupted(FtcoreError):
    """Training stopped on SIGTERM / SIGINT after writing a checkpoint; the message says how to resume. The
    ``ftcore`` command exits with 128 + the signal number (143 for SIGTERM, 130 for SIGINT)."""

    def __init__(self, message: str, signum: int, checkpoint: str | None):
        super().__init__(message)
        self.exit_code = 128 + signum
        self.signum = signum
        self.checkpoint = checkpoint


@dataclass
class TrainResult:
    """What a run produced. ``best_checkpoint`` is the lowest eval loss (the last one without evaluation)."""

    output_dir: str
    best_checkpoint: str | None
    last_checkpoint: str | None
    metrics: dict[str, Any] = field(default_factory=dict)
    #: the trained model as training left it (the last checkpoint's weights), for use in the same process
    model: Any = field(default=None, repr=False, compare=False)
