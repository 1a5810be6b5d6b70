"""Secrets are never written: the redaction applied to every recorded command line, argument and config.

A *secret name* is ``hub.token`` or any key whose last part is, or ends in, ``token``, ``key``, ``secret`` or
``password`` (``hub_token``, ``api_key``, ``HF_TOKEN``, ``db_password``; not ``max_new_tokens``). Its value is
replaced with :data:`REDACTED` wherever ftcore records it: manifest.json's command line, run.toml of the run folder
and its checkpoints, result.json, pushed files. Imports nothing heavy.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

__all__ = ["REDACTED", "is_secret_name", "redact_argv", "redact_mapping", "redact_text"]

REDACTED = "***"

_SECRET_NAME = re.compile(r"(?:^|[._\-])(?:token|key|secret|secrets|password|passwd|credentials?)$", re.IGNORECASE)
_OPTION = re.compile(r"^(--?[A-Za-z0-9_.\-]+)(=(.*))?$", re.DOTALL)
_ASSIGN = re.compile(r"^([A-Za-z_][A-Za-z0-9_.\-\[\]]*)\s*=(.*)$", re.DOTALL)


def is_secret_name(name: str) -> bool:
    """True for a key that holds a secret (``hub.token``, ``api_key``, ``HF_TOKEN`` …)."""
    last = re.split(r"[.\[\]]", name.strip().strip("-"))
    last_part = next((p for p in reversed(last) if p), "")
    return bool(_SECRET_NAME.search(last_part))


#: mappings whose keys are data column names, not settings (``data.datasets[].columns``): left as they are
_NOT_SETTINGS = frozenset({"columns"})


def redact_mapping(data: Any) -> Any:
    """A copy of ``data`` (dicts and lists, nested) with the values under secret names replaced."""
    if isinstance(data, dict):
        return {k: (REDACTED if isinstance(k, str) and is_secret_name(k) and isinstance(v, str) and v
                    else v if k in _NOT_SETTINGS else redact_mapping(v)) for k, v in data.items()}
    if isinstance(data, list):
        return [redact_mapping(v) for v in data]
    if isinstance(data, tuple):
        return tuple(redact_mapping(v) for v in data)
    return data


def redact_argv(argv: Sequence[str]) -> list[str]:
    """A command line with secret values replaced: ``--set hub.token=X`` / ``hub.token=X`` / ``--hub-token X`` /
    ``--hub-token=X`` / ``--api-key X``."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append(REDACTED)
            hide_next = False
            continue
        option = _OPTION.match(arg)
        if option and is_secret_name(option.group(1)):
            if option.group(2) is None:
                out.append(arg)
                hide_next = True
            else:
                out.append(f"{option.group(1)}={REDACTED}")
            continue
        if option and option.group(3) is not None:  # --set=hub.token=X
            inner = _ASSIGN.match(option.group(3))
            if inner and is_secret_name(inner.group(1)):
                out.append(f"{option.group(1)}={inner.group(1)}={REDACTED}")
                continue
        assign = _ASSIGN.match(arg)
        if assign and is_secret_name(assign.group(1)):
            out.append(f"{assign.group(1)}={REDACTED}")
            continue
        out.append(arg)
    return out


def redact_text(text: str, secrets: Sequence[str | None]) -> str:
    """``text`` with every occurrence of the given secret values replaced (values shorter than 4 characters are
    left alone: they would blank out ordinary words)."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    return text
