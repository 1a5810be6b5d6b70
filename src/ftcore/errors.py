"""The one user-facing error class, and helpers that print it without a traceback."""

from __future__ import annotations


class FtcoreError(Exception):
    """An error the user can act on. The CLI prints its message alone (no traceback unless FTCORE_DEBUG=1).

    Messages name the file, field or row at fault and say what to do, e.g.
    ``run.toml: train.lr: must be > 0 (got -1)``.
    """

    #: the ``ftcore`` command's exit status when this error ends it
    exit_code: int = 2


class ConfigError(FtcoreError):
    """A run.toml problem. ``problems`` holds every problem found (each already formatted as one line)."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class PluginError(FtcoreError):
    """A plugin misbehaved: failed to import, registered a duplicate or invalid spec, misspelled a hook."""


class MissingDependencyError(FtcoreError):
    """An optional dependency is missing; the message carries the pip command that installs it."""

    def __init__(self, what: str, pip: str):
        super().__init__(f"{what} needs an optional dependency: pip install {pip}")
        self.pip = pip
