"""Row helpers for dataset packs' preprocessing functions (public API; pure Python: no torch, no datasets).

A pack's ``DatasetSpec.preprocess`` builds on these. Every function here works on one raw row (a dict) and
either returns the normalized form ``{"messages": [...], "images": [...]}``, returns None to filter the row out on purpose (ms-swift's
row filters: firefly's kind list, the agent sets' dirty-data rules), or raises
:class:`ftcore.data.formats.BadRow` with a short stable reason for a row that is broken
(``missing field``, ``wrong type``, ``empty response``, ``unparseable conversation``, ``malformed field``,
``unknown label``) so the run's bad-row report counts it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ftcore.data.formats import BadRow, from_alpaca, normalize_row, parse_literal, preprocess_conversations

Row = dict[str, Any]

__all__ = [
    "BadRow",
    "alpaca",
    "chat",
    "conversation",
    "field",
    "literal_turns",
    "message_problem",
    "normalize_row",
    "preference_pair",
    "response_only",
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
    """The normalized form of one single- or multi-turn sample (ms-swift's query/response/history/system)."""
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


def response_only(text: str) -> Row:
    """A continued-pretraining / free-generation sample: an empty user turn and the text as the response.

    This is ms-swift's "no query column" form: the template renders its prompt around an empty query, so
    training on it with a generation template (``default-generation``) is plain language modelling.
    """
    return chat("", text)


def alpaca(row: Row, concat: Any = None) -> Row:
    """The ms-swift's Alpaca rule on ``instruction`` / ``input`` / ``output`` (and its "Smart" fallbacks).

    query = instruction when input is None or empty, else ``concat(instruction, input)`` when given, else
    instruction + "\\n" + input; response = output. A None output is ``missing field`` (ms-swift dropped the
    row). A row without alpaca columns goes through :func:`ftcore.data.formats.normalize_row` (the ms-swift's
    Smart preprocessor also accepted query/response and ShareGPT rows).
    """
    if "instruction" not in row and "output" not in row:
        return normalize_row(row)
    return from_alpaca(row, concat=concat)


def literal_turns(cell: Any, key: str = "conversation") -> list[Any]:
    """A list stored as is, or as a JSON / Python-literal string (ms-swift's default conversation repair)."""
    if cell is None:
        raise BadRow("missing field", key)
    value = parse_literal(cell, key)
    if not isinstance(value, (list, tuple)) or not value:
        raise BadRow("unparseable conversation", f"{key} is not a non-empty list of turns")
    return list(value)


def conversation(turns: list[Any], **roles: Any) -> Row:
    """Turn dicts → normalized form through :func:`ftcore.data.formats.preprocess_conversations`.

    ``roles`` are its keyword arguments (``user_role``, ``assistant_role``, ``role_key``, ``content_key`` …).
    The result must read system? (user (assistant tool*)*)+ ending on a non-empty assistant turn — the
    ms-swift asserted the same shape — otherwise the row is ``unparseable conversation``.
    """
    out = preprocess_conversations(turns, **roles)
    problem = message_problem(out.get("messages"))
    if problem == "empty response":
        raise BadRow("empty response", "the last assistant turn is blank")
    if problem:
        raise BadRow("unparseable conversation", problem)
    out.setdefault("images", [])
    return out


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


def preference_pair(
    prompt: list[dict[str, str]], chosen: str, rejected: str, *, images: Iterable[str] = ()
) -> Row:
    """The normalized form of one preference pair (the preference stages' ``task = "preference"`` rows).

    ``prompt`` is the conversation before the two answers: an optional system turn, then user / assistant
    turns ending on a user turn. A blank side is ``empty response``; a prompt of any other shape is
    ``unparseable conversation``. Identical sides are left to the data stage's bad-row report.
    """
    if not isinstance(chosen, str) or not isinstance(rejected, str):
        raise BadRow("wrong type", "chosen / rejected must be text")
    for side, text in (("chosen", chosen), ("rejected", rejected)):
        if not text.strip():
            raise BadRow("empty response", f"the {side} answer is blank")
    problem = message_problem([*prompt, {"role": "assistant", "content": chosen}])
    if problem:
        raise BadRow("unparseable conversation", f"prompt: {problem}")
    return {"messages": list(prompt), "chosen": chosen, "rejected": rejected, "images": list(images)}
