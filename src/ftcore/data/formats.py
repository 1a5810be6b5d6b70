"""Raw rows → the normalized form ``{"messages": [{"role", "content"}, ...], "images": [...]}``.

Pure Python (no torch / datasets), so dataset packs can import these helpers from their entry modules.

Recognised raw forms, tried in this order by :func:`normalize_row`:

* ``messages``: a list of ``{"role", "content"}`` dicts (OpenAI style; content may be a list of parts);
* ms-swift's ``query`` / ``response`` / ``history`` / ``system`` columns (:func:`from_query_response`);
* alpaca's ``instruction`` / ``input`` / ``output`` (:func:`from_alpaca`);
* ShareGPT's ``conversations`` (``from`` / ``value`` turns) (:func:`from_sharegpt`).

A row that cannot be used raises :class:`BadRow` whose ``reason`` is a short stable key (one of
:data:`REASONS` or a template's SkipSample reason); the loader counts rows per reason and reports them.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

#: the reasons this module gives; the pipeline adds the template's (``too long``, ...)
MISSING_FIELD = "missing field"
EMPTY_RESPONSE = "empty response"
WRONG_TYPE = "wrong type"
UNPARSEABLE = "unparseable conversation"
UNKNOWN_FORMAT = "unknown format"
UNPARSEABLE_ROW = "unparseable row"
DROPPED = "dropped by preprocess"
REASONS = (MISSING_FIELD, EMPTY_RESPONSE, WRONG_TYPE, UNPARSEABLE, UNKNOWN_FORMAT, UNPARSEABLE_ROW, DROPPED)

#: role names met in the wild, mapped to the normalized roles (used by ``messages`` and ShareGPT rows)
ROLE_ALIASES: dict[str, str] = {
    "system": "system",
    "user": "user",
    "human": "user",
    "question": "user",
    "assistant": "assistant",
    "gpt": "assistant",
    "chatgpt": "assistant",
    "bot": "assistant",
    "model": "assistant",
    "bing": "assistant",
    "bard": "assistant",
    "answer": "assistant",
    "tool": "tool",
    "function": "tool",
    "observation": "tool",
    "ipython": "tool",
}

Row = dict[str, Any]


class BadRow(ValueError):
    """A raw row that cannot be used. ``reason`` is a short stable key (see :data:`REASONS`)."""

    def __init__(self, reason: str, detail: str | None = None):
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


# --------------------------------------------------------------------------------------------------
# small helpers


def _text(value: Any, field: str, *, required: bool = True) -> str | None:
    """A string cell: numbers become text (csv columns are often inferred as numbers); None / NaN is missing."""
    if value is None or (isinstance(value, float) and value != value):
        if required:
            raise BadRow(MISSING_FIELD, field)
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise BadRow(WRONG_TYPE, f"{field} is {type(value).__name__}, expected text")


def _response(value: Any, field: str = "response") -> str:
    text = _text(value, field)
    assert text is not None
    if not text.strip():
        raise BadRow(EMPTY_RESPONSE, field)
    return text


def parse_literal(value: Any, field: str = "conversation") -> Any:
    """A cell that may hold a list as a string: JSON first, then a Python literal (ms-swift's repr form)."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        raise BadRow(UNPARSEABLE, f"{field} is not a JSON / Python list") from None


def _images(row: Mapping[str, Any]) -> list[Any]:
    """``images`` (list) or ``image`` (one) kept as paths / URLs; ``{"path": ...}`` cells become the path."""
    value = row.get("images")
    if value is None:
        value = row.get("image")
    if value is None:
        return []
    items = value if isinstance(value, (list, tuple)) else [value]
    out = []
    for item in items:
        if isinstance(item, Mapping):
            item = item.get("path") or item.get("url") or item.get("image_url")
            if isinstance(item, Mapping):
                item = item.get("url")
        if item is None:
            continue
        if not isinstance(item, str):
            raise BadRow(WRONG_TYPE, f"image is {type(item).__name__}, expected a path or URL")
        out.append(item)
    return out


def _result(messages: list[dict[str, str]], row: Mapping[str, Any]) -> Row:
    return {"messages": messages, "images": _images(row)}


def _check_trainable(messages: list[dict[str, str]]) -> None:
    """A training row needs a user turn first (after system) and a non-empty assistant turn last."""
    body = [m for m in messages if m["role"] != "system"]
    if not body:
        raise BadRow(MISSING_FIELD, "no user or assistant turn")
    if body[-1]["role"] != "assistant":
        raise BadRow(UNPARSEABLE, "the last turn is not an assistant turn")
    if not body[-1]["content"].strip():
        raise BadRow(EMPTY_RESPONSE, "the last assistant turn is empty")


# --------------------------------------------------------------------------------------------------
# ms-swift's query / response / history / system


def parse_history(value: Any) -> list[tuple[str, str]]:
    """History as ``[[query, response], ...]``, or such a list stored as a string (ms-swift's Swift preprocessor)."""
    value = parse_literal(value, "history")
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise BadRow(WRONG_TYPE, f"history is {type(value).__name__}, expected a list of [query, response] pairs")
    out = []
    for i, pair in enumerate(value):
        if isinstance(pair, Mapping):  # {"query": ..., "response": ...} / {"user": ..., "assistant": ...}
            q = pair.get("query", pair.get("user", pair.get("human")))
            r = pair.get("response", pair.get("assistant", pair.get("gpt")))
            pair = (q, r)
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise BadRow(WRONG_TYPE, f"history[{i}] is not a [query, response] pair")
        q = _text(pair[0], f"history[{i}][0]")
        r = _text(pair[1], f"history[{i}][1]")
        assert q is not None and r is not None
        out.append((q, r))
    return out


def from_query_response(row: Mapping[str, Any]) -> Row:
    """ms-swift's form: ``query`` (may be absent: text-generation sets), ``response``, optional ``history``
    (pairs, or a string literal of them) and ``system`` → messages."""
    response = _response(row.get("response"))
    query = _text(row.get("query"), "query", required=False) or ""
    system = _text(row.get("system"), "system", required=False)
    messages: list[dict[str, str]] = []
    if system is not None:
        messages.append({"role": "system", "content": system})
    for q, r in parse_history(row.get("history")):
        messages.append({"role": "user", "content": q})
        messages.append({"role": "assistant", "content": r})
    messages.append({"role": "user", "content": query})
    messages.append({"role": "assistant", "content": response})
    return _result(messages, row)


# --------------------------------------------------------------------------------------------------
# alpaca


def from_alpaca(row: Mapping[str, Any], *, concat: Callable[[str, str], str] | None = None) -> Row:
    """Alpaca's ``instruction`` / ``input`` / ``output`` → messages.

    query = instruction when input is empty, else ``concat(instruction, input)`` if given, else
    ``instruction + "\\n" + input`` (ms-swift's rule). An optional ``system`` and ``history`` are kept.
    """
    response = _response(row.get("output"), "output")
    instruction = _text(row.get("instruction"), "instruction")
    assert instruction is not None
    inp = _text(row.get("input"), "input", required=False)
    if inp:
        query = concat(instruction, inp) if concat is not None else f"{instruction}\n{inp}"
    else:
        query = instruction
    return from_query_response(
        {"query": query, "response": response, "system": row.get("system"), "history": row.get("history"),
         "images": row.get("images"), "image": row.get("image")}
    )


# --------------------------------------------------------------------------------------------------
# conversations (ShareGPT and custom role names)


def _names(value: str | Iterable[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _content(value: Any, field: str, images: list[Any]) -> str:
    """A turn's content; OpenAI-style part lists are joined (text) and their images collected."""
    if isinstance(value, list):
        texts = []
        for part in value:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, Mapping) and part.get("type") == "text":
                texts.append(_text(part.get("text"), field) or "")
            elif isinstance(part, Mapping) and part.get("type") in ("image", "image_url"):
                images.extend(_images({"image": part.get("image") or part.get("image_url") or part.get("url")}))
            else:
                raise BadRow(WRONG_TYPE, f"{field} holds an unknown content part")
        return "".join(texts)
    text = _text(value, field, required=False)
    return "" if text is None else text


def preprocess_conversations(
    turns: Any,
    *,
    user_role: str | Sequence[str] = "user",
    assistant_role: str | Sequence[str] = "assistant",
    system_role: str | Sequence[str] = "system",
    role_key: str = "from",
    content_key: str = "value",
    tool_roles: Sequence[str] = ("tool", "function", "observation"),
) -> Row:
    """Turns with custom role names (a list of dicts, or such a list stored as a JSON / Python-literal string)
    → ``{"messages": [...], "images": []}``.

    Each role argument may be one name or several. A system turn is allowed first only; the last turn must
    be the assistant's. Raises :class:`BadRow` for anything else (unknown role, unparseable string, ...).
    """
    turns = parse_literal(turns)
    if turns is None:
        raise BadRow(MISSING_FIELD, "conversation")
    if not isinstance(turns, (list, tuple)):
        raise BadRow(UNPARSEABLE, f"conversation is {type(turns).__name__}, expected a list of turns")
    roles: dict[str, str] = {}
    for names, role in ((system_role, "system"), (user_role, "user"), (assistant_role, "assistant"),
                        (tool_roles, "tool")):
        for name in _names(names):
            roles.setdefault(name, role)
    messages: list[dict[str, str]] = []
    images: list[Any] = []
    for i, turn in enumerate(turns):
        if not isinstance(turn, Mapping):
            raise BadRow(UNPARSEABLE, f"turn {i} is {type(turn).__name__}, expected a dict")
        raw_role = turn.get(role_key)
        found = roles.get(raw_role) if isinstance(raw_role, str) else None
        if found is None:
            raise BadRow(UNPARSEABLE, f"turn {i} has unknown role {raw_role!r}")
        role = found
        if role == "system" and messages:
            raise BadRow(UNPARSEABLE, f"turn {i}: a system turn is allowed first only")
        messages.append({"role": role, "content": _content(turn.get(content_key), f"turn {i}", images)})
    _check_trainable(messages)
    return {"messages": messages, "images": images}


def _sharegpt_rounds(turns: list[Any]) -> list[dict[str, str]] | None:
    """ms-swift's sharegpt-en/zh rounds ``[{"human": q, "assistant": r}, ...]`` → from/value turns."""
    if not turns or not all(isinstance(t, Mapping) and "human" in t and "assistant" in t for t in turns):
        return None
    out = []
    for t in turns:
        out.append({"from": "user", "value": t["human"]})
        out.append({"from": "assistant", "value": t["assistant"]})
    return out


def from_sharegpt(row: Mapping[str, Any]) -> Row:
    """ShareGPT's ``conversations`` (``from`` / ``value``; human/gpt/system/... roles) → messages.

    Also accepts ``role`` / ``content`` keys, the column named ``conversation``, and ms-swift's rounds form
    ``[{"human": q, "assistant": r}, ...]`` (possibly stored as a string). A top-level ``system`` is kept.
    """
    key = "conversations" if row.get("conversations") is not None else "conversation"
    turns = parse_literal(row.get(key), key)
    if turns is None:
        raise BadRow(MISSING_FIELD, "conversations")
    if not isinstance(turns, (list, tuple)):
        raise BadRow(UNPARSEABLE, f"{key} is {type(turns).__name__}, expected a list of turns")
    turns = _sharegpt_rounds(list(turns)) or list(turns)
    first = next((t for t in turns if isinstance(t, Mapping)), {})
    role_key, content_key = ("role", "content") if "role" in first and "from" not in first else ("from", "value")
    aliases = ROLE_ALIASES
    out = preprocess_conversations(
        turns,
        user_role=[k for k, v in aliases.items() if v == "user"],
        assistant_role=[k for k, v in aliases.items() if v == "assistant"],
        system_role="system",
        role_key=role_key,
        content_key=content_key,
        tool_roles=[k for k, v in aliases.items() if v == "tool"] + ["function_call", "tool_call"],
    )
    system = _text(row.get("system"), "system", required=False)
    if system is not None and out["messages"][0]["role"] != "system":
        out["messages"].insert(0, {"role": "system", "content": system})
    out["images"] = out["images"] + _images(row)
    return out


def from_messages(row: Mapping[str, Any]) -> Row:
    """Rows already holding ``messages`` (``role`` / ``content``) → checked, normalized roles."""
    messages = parse_literal(row.get("messages"), "messages")
    if messages is None:
        raise BadRow(MISSING_FIELD, "messages")
    if not isinstance(messages, (list, tuple)):
        raise BadRow(UNPARSEABLE, f"messages is {type(messages).__name__}, expected a list")
    aliases = ROLE_ALIASES
    out = preprocess_conversations(
        messages,
        user_role=[k for k, v in aliases.items() if v == "user"],
        assistant_role=[k for k, v in aliases.items() if v == "assistant"],
        system_role="system",
        role_key="role",
        content_key="content",
        tool_roles=[k for k, v in aliases.items() if v == "tool"],
    )
    out["images"] = out["images"] + _images(row)
    return out


# --------------------------------------------------------------------------------------------------
# dispatch


def rename_columns(row: Mapping[str, Any], columns: Mapping[str, str] | None) -> Row:
    """Apply a ``{raw: target}`` mapping; a target of ``"_"`` drops the column (ms-swift's convention)."""
    if not columns:
        return dict(row)
    out = {k: v for k, v in row.items() if k not in columns}
    for raw, target in columns.items():
        if raw in row and target != "_":
            out[target] = row[raw]
    return out


def detect_format(row: Mapping[str, Any]) -> str:
    """``messages`` | ``query_response`` | ``alpaca`` | ``sharegpt``; :class:`BadRow` when none fits."""
    # columns holding a value decide first: a file mixing forms has null cells for the other forms' columns
    for keys in ({k for k, v in row.items() if v is not None}, set(row)):
        if "messages" in keys:
            return "messages"
        if "response" in keys or "query" in keys:
            return "query_response"
        if "instruction" in keys or "output" in keys:
            return "alpaca"
        if "conversations" in keys or "conversation" in keys:
            return "sharegpt"
    cols = ", ".join(sorted(map(str, row))) or "none"
    raise BadRow(UNKNOWN_FORMAT, f"columns {cols}; map them with columns = {{...}} to query/response")


_BY_FORMAT: dict[str, Callable[[Mapping[str, Any]], Row]] = {
    "messages": from_messages,
    "query_response": from_query_response,
    "alpaca": from_alpaca,
    "sharegpt": from_sharegpt,
}


def normalize_row(row: Mapping[str, Any], columns: Mapping[str, str] | None = None) -> Row:
    """One raw row (any recognised form; ``columns`` renames raw columns first) → ``{"messages", "images"}``.

    Raises :class:`BadRow` when the row cannot be used.
    """
    if not isinstance(row, Mapping):
        raise BadRow(WRONG_TYPE, f"row is {type(row).__name__}, expected an object")
    row = rename_columns(row, columns)
    return _BY_FORMAT[detect_format(row)](row)


def check_normalized(row: Any) -> Row:
    """Validate what a spec's ``preprocess`` returned (messages, images) and normalize its roles."""
    if not isinstance(row, Mapping) or "messages" not in row:
        # preprocess functions may also return ms-swift's query/response form
        if isinstance(row, Mapping):
            return normalize_row(row)
        raise BadRow(WRONG_TYPE, f"preprocess returned {type(row).__name__}, expected a dict with messages")
    return from_messages(row)
