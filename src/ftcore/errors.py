"""The one user-facing error class, and helpers that print it without a traceback."""

from __future__ import annotations

import os
import sys
import traceback


class FtcoreError(Exception):
    """An error the user can act on. The CLI prints its message alone (no traceback unless FTCORE_DEBUG=1).

    Messages name the file, field or row at fault and say what to do, e.g.
    ``run.toml: train.lr: must be > 0 (got -1)``.
    """

    #: the ``ftcore`` command's exit status when this error ends it
    exit_code: int = 2


class ConfigError(FtcoreError):
    """A run.toml problem. ``problems`` holds every problem found (each already formatted as one line)."""

    def __init__(self, problems: list[str], causes: list[BaseException] | None = None):
        self.problems = list(problems)
        #: the exceptions behind some of the problems (a plugin file that failed to import …):
        #: ``FTCORE_DEBUG=1`` prints their tracebacks instead of the ConfigError's own
        self.causes = list(causes or [])
        super().__init__("\n".join(self.problems))


class PluginError(FtcoreError):
    """A plugin misbehaved: failed to import, registered a duplicate or invalid spec, misspelled a hook."""


class PluginHookError(PluginError):
    """A plugin's hook implementation (or the code of a spec it registered) raised.

    The message is one line, ``plugin NAME VERSION: HOOK failed: ExcType: message``; the original exception is
    ``original`` (and ``__cause__``), whose traceback ``FTCORE_DEBUG=1`` prints.
    """

    def __init__(self, plugin: str, hook: str, original: BaseException):
        self.plugin = plugin
        self.hook = hook
        self.original = original
        super().__init__(f"plugin {plugin}: {hook} failed: {describe(original)}")


class MissingDependencyError(FtcoreError):
    """An optional dependency is missing; the message carries the pip command that installs it."""

    def __init__(self, what: str, pip: str):
        super().__init__(f"{what} needs an optional dependency: pip install {pip}")
        self.pip = pip


def describe(exc: BaseException) -> str:
    """``ExcType: message`` on one line (the message's lines joined)."""
    text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def debug_enabled() -> bool:
    """``FTCORE_DEBUG`` is set (and not ``0``): show tracebacks behind error messages."""
    return os.environ.get("FTCORE_DEBUG", "") not in ("", "0")


def original_exceptions(exc: BaseException) -> list[BaseException]:
    """The exceptions an error stands for: a ConfigError's ``causes``, else the innermost ``__cause__`` /
    ``__context__`` of the chain (the plugin's own exception behind a :class:`PluginHookError`), else ``exc``."""
    if isinstance(exc, ConfigError) and exc.causes:
        return [original for cause in exc.causes for original in original_exceptions(cause)]
    seen = {id(exc)}
    inner = exc
    while True:
        nxt = inner.__cause__ or (None if inner.__suppress_context__ else inner.__context__)
        if nxt is None or id(nxt) in seen:
            return [inner]
        seen.add(id(nxt))
        inner = nxt


def print_traceback(exc: BaseException) -> None:
    """Print ``exc``'s own traceback (not its chain) to stderr."""
    traceback.print_exception(type(exc), exc, exc.__traceback__, chain=False, file=sys.stderr)
