"""Small helpers the pack's preprocessing functions share (pure Python: no torch, no datasets).

Every function here works on one raw row (a dict) and either returns the normalized form
``{"messages": [...], "images": [...]}`` or raises :class:`ftcore.data.formats.BadRow` with a short stable
reason (``missing field``, ``wrong type``, ``empty response``, ``unparseable conversation``,
``malformed field``) so the run's bad-row report counts it. (ftcore-datasets-zh has the same helpers: each
pack installs alone.)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ftcore.data.formats import BadRow, from_alpaca, normalize_row

Row = dict[str, Any]

__all__ = [
    "BadRow",
    "alpaca",
    "chat",
    "field",
    "message_problem",
    "normalize_row",
]


def field(row: Row, key: str) -> str:
    """The text in column ``key``: a missing / None cell is ``missing field``; numbers become text (csv
    columns are often read as numbers); anything else is ``wrong type``."""
    value = row.get(key)
    if value is None:
        raise BadRow("missing field", key)
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise BadRow("wrong type", f"{key} is {type(value).__name__}, expected text")


def chat(
    query: str,
    response: str,
    *,
    system: str | None = None,
    history: Iterable[Sequence[str]] = (),
    images: Iterable[str] = (),
) -> Row:
    """The normalized form of one single- or multi-turn sample (the seed's query/response/history/system)."""
    if not response.strip():
        raise BadRow("empty response", "the response is blank")
    messages: list[dict[str, str]] = []
    if system:
        messages.append({"role": "system", "content": system})
    for user, assistant in history:
        messages.append({"role": "user", "content": user})
        messages.append({"role": "assistant", "content": assistant})
    messages.append({"role": "user", "content": query})
    messages.append({"role": "assistant", "content": response})
    return {"messages": messages, "images": list(images)}


def alpaca(row: Row, concat: Any = None) -> Row:
    """The seed's Alpaca rule on ``instruction`` / ``input`` / ``output`` (and its "Smart" fallbacks).

    query = instruction when input is None or empty, else ``concat(instruction, input)`` when given, else
    instruction + "\\n" + input; response = output. A None output is ``missing field`` (the seed dropped the
    row). A row without alpaca columns goes through :func:`ftcore.data.formats.normalize_row` (the seed's
    Smart preprocessor also accepted query/response and ShareGPT rows).
    """
    if "instruction" not in row and "output" not in row:
        return normalize_row(row)
    return from_alpaca(row, concat=concat)


def message_problem(messages: Any) -> str | None:
    """Why ``messages`` is not a trainable conversation, or None when it is.

    Valid: an optional leading system turn, then user and assistant turns alternating from a user turn,
    tool turns only right after an assistant turn (tool calls and their results) and followed by another
    assistant turn, string contents, ending on an assistant turn with non-empty content.
    """
    if not isinstance(messages, list) or not messages:
        return "no messages"
    for m in messages:
        if not isinstance(m, dict) or not isinstance(m.get("content"), str):
            return "message is not {role, content: str}"
        if m.get("role") not in ("system", "user", "assistant", "tool"):
            return f"unknown role {m.get('role')!r}"
    rest = messages[1:] if messages[0]["role"] == "system" else messages
    if not rest or rest[0]["role"] != "user":
        return "first turn after the system prompt is not a user turn"
    previous = None
    for m in rest:
        role = m["role"]
        if role == "system":
            return "system turn after the start"
        if role == "user" and previous not in (None, "assistant"):
            return "user turn does not follow an assistant turn"
        if role == "assistant" and previous not in ("user", "tool"):
            return "assistant turn does not follow a user or tool turn"
        if role == "tool" and previous not in ("assistant", "tool"):
            return "tool turn does not follow an assistant turn"
        previous = role
    if previous != "assistant":
        return "last turn is not an assistant turn"
    if not rest[-1]["content"].strip():
        return "empty response"
    return None
