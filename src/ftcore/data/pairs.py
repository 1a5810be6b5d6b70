"""Preference rows: chosen / rejected pairs and KTO's labelled answers, in every form ftcore reads.

The normalized forms (what a dataset pack's ``preprocess`` returns, docs/alignment.md)::

    pair  {"messages": [system?, user, (assistant, user)*], "chosen": str | [assistant message], "rejected": same}
    kto   {"messages": [system?, user, …, assistant], "label": bool}

Raw forms accepted besides those: ``{prompt, chosen, rejected}`` (``prompt`` a string or messages), ms-swift's
``{query, response, rejected_response, history?, system?}``, ShareGPT-style ``{conversations, chosen: {from,
value}, rejected: {...}}``, TRL's implicit prompt (``chosen`` / ``rejected`` whole conversations sharing the
prompt turns) and KTO's ``{prompt, completion, label}``; ``columns = {...}`` renames first, as for SFT.

Inside the data stage a normalized pair travels as ordinary ``messages`` (the fixed columns of the SFT pipeline:
mixing, splitting, sampling and the cache work unchanged) with the answers as the last two messages under the
roles ``chosen`` and ``rejected``; a KTO row ends with its answer and a ``label`` message (``"true"`` /
``"false"``). :func:`split_pair` / :func:`split_kto` take them apart for encoding.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ftcore.data.formats import (
    EMPTY_RESPONSE,
    MISSING_FIELD,
    UNPARSEABLE,
    WRONG_TYPE,
    BadRow,
    Row,
    from_messages,
    from_sharegpt,
    normalize_row,
    parse_literal,
)

#: bad-row reasons of preference data (besides formats.REASONS)
MISSING_SIDE = "missing chosen or rejected"
IDENTICAL = "identical chosen and rejected"
TOO_LONG = "too long after truncating the prompt"
REASONS = (MISSING_SIDE, IDENTICAL, TOO_LONG)

CHOSEN, REJECTED, LABEL = "chosen", "rejected", "label"


def is_pair(row: Mapping[str, Any]) -> bool:
    """A raw (renamed) row in a pair form: chosen / rejected, or ms-swift's response + rejected_response."""
    return "chosen" in row or "rejected" in row or "rejected_response" in row


def _literal(value: Any, field: str) -> Any:
    """A cell that may hold a list / object written as JSON or Python text; plain text stays text."""
    if isinstance(value, str) and value.lstrip()[:1] in ("[", "{"):
        try:
            return parse_literal(value, field)
        except BadRow:
            return value
    return value


def is_kto(row: Mapping[str, Any]) -> bool:
    """A raw row in KTO's form: a boolean ``label`` beside messages or prompt + completion."""
    return isinstance(row.get("label"), bool) and ("messages" in row or "completion" in row)


def _answer(value: Any, side: str) -> str:
    """One answer: a string, an assistant message (``role/content`` or ShareGPT's ``from/value``) or a list
    holding exactly one."""
    value = _literal(value, side)
    if value is None:
        raise BadRow(MISSING_SIDE, f"{side} is missing")
    if isinstance(value, (list, tuple)):
        msgs = [m for m in value if not (isinstance(m, Mapping) and m.get("role") == "system")]
        if len(msgs) != 1:
            raise BadRow(UNPARSEABLE, f"{side}: expected one assistant message, got {len(msgs)}")
        value = msgs[0]
    if isinstance(value, Mapping):
        role = value.get("role", value.get("from", "assistant"))
        if str(role) not in ("assistant", "gpt", "bot", "model", "chatgpt"):
            raise BadRow(UNPARSEABLE, f"{side}: the answer's role is {role!r}, expected assistant")
        value = value.get("content", value.get("value"))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise BadRow(WRONG_TYPE if value is not None else MISSING_SIDE, f"{side} is {type(value).__name__}")
    if not value.strip():
        raise BadRow(EMPTY_RESPONSE, f"{side} is empty")
    return value


def _prompt_messages(row: Mapping[str, Any]) -> list[dict[str, str]]:
    """The prompt turns of a pair row (ending with a user turn), checked through the SFT row parsers."""
    probe = "__ftcore_probe__"
    if row.get("messages") is not None:
        msgs = _literal(row["messages"], "messages")
        if not isinstance(msgs, (list, tuple)):
            raise BadRow(UNPARSEABLE, "messages is not a list")
        parsed = from_messages({"messages": [*msgs, {"role": "assistant", "content": probe}],
                                **({"system": row["system"]} if row.get("system") else {})})
    elif row.get("conversations") is not None or row.get("conversation") is not None:
        key = "conversations" if row.get("conversations") is not None else "conversation"
        turns = _literal(row[key], key)
        if not isinstance(turns, (list, tuple)):
            raise BadRow(UNPARSEABLE, f"{key} is not a list")
        first = next((t for t in turns if isinstance(t, Mapping)), {})
        last = {"from": "gpt", "value": probe} if "from" in first else {"role": "assistant", "content": probe}
        parsed = from_sharegpt({key: [*turns, last], **({"system": row["system"]} if row.get("system") else {})})
    elif isinstance(_literal(row.get("prompt"), "prompt"), (list, tuple)):
        return _prompt_messages({**row, "messages": _literal(row["prompt"], "prompt"), "prompt": None})
    else:
        query = row.get("prompt", row.get("query"))
        if query is None:
            raise BadRow(MISSING_FIELD, "prompt")
        parsed = normalize_row({"query": query, "response": probe, "history": row.get("history"),
                                "system": row.get("system")})
    messages = parsed["messages"]
    if messages[-1]["content"] != probe or len(messages) < 2 or messages[-2]["role"] != "user":
        raise BadRow(UNPARSEABLE, "the prompt must end with a user turn")
    return messages[:-1]


def _implicit_prompt(row: Mapping[str, Any]) -> Row:
    """TRL's implicit-prompt form: ``chosen`` / ``rejected`` are whole conversations sharing the prompt turns."""
    chosen, rejected = _literal(row["chosen"], "chosen"), _literal(row["rejected"], "rejected")
    if not (isinstance(chosen, (list, tuple)) and isinstance(rejected, (list, tuple))) or len(chosen) < 2:
        raise BadRow(MISSING_FIELD, "prompt (or messages / conversations)")
    n = 0
    while n < min(len(chosen), len(rejected)) - 1 and chosen[n] == rejected[n]:
        n += 1
    return {**row, "messages": list(chosen[:n]), "chosen": list(chosen[n:]), "rejected": list(rejected[n:]),
            "prompt": None}


def normalize_pair(row: Mapping[str, Any]) -> Row:
    """A raw pair row (already renamed) → the carried form (``messages`` ending with chosen / rejected)."""
    if "rejected_response" in row:  # ms-swift: response is the chosen answer
        row = {**row, "chosen": row.get("chosen", row.get("response")), "rejected": row["rejected_response"]}
    if row.get("chosen") is None or row.get("rejected") is None:
        raise BadRow(MISSING_SIDE, "chosen" if row.get("chosen") is None else "rejected")
    if all(row.get(k) is None for k in ("messages", "conversations", "conversation", "prompt", "query")):
        row = _implicit_prompt(row)
    prompt = _prompt_messages(row)
    chosen, rejected = _answer(row["chosen"], "chosen"), _answer(row["rejected"], "rejected")
    if chosen.strip() == rejected.strip():
        raise BadRow(IDENTICAL, None)
    return {"messages": [*prompt, {"role": CHOSEN, "content": chosen}, {"role": REJECTED, "content": rejected}],
            "images": []}


def normalize_kto(row: Mapping[str, Any]) -> Row:
    """A raw KTO row → the carried form (``messages`` ending with the answer, then the ``label`` message)."""
    label = row.get("label")
    if not isinstance(label, bool):
        raise BadRow(WRONG_TYPE, f"label is {type(label).__name__}, expected true or false")
    if row.get("messages") is not None:
        parsed = from_messages({"messages": row["messages"], **({"system": row["system"]} if row.get("system")
                                                                 else {})})
        messages = parsed["messages"]
    else:
        prompt = _prompt_messages({k: v for k, v in row.items() if k != "completion"})
        messages = [*prompt, {"role": "assistant", "content": _answer(row.get("completion"), "completion")}]
    return {"messages": [*messages, {"role": LABEL, "content": "true" if label else "false"}], "images": []}


def normalize_preference_row(row: Mapping[str, Any]) -> Row | None:
    """The carried form of a pair or KTO row; None when ``row`` is in neither form (an SFT row)."""
    if is_pair(row):
        return normalize_pair(row)
    if is_kto(row):
        return normalize_kto(row)
    return None


def row_kind(messages: list[Mapping[str, Any]]) -> str:
    """``pair``, ``kto`` or ``sft``: what a normalized (carried) row holds."""
    role = messages[-1]["role"] if messages else ""
    return "pair" if role == REJECTED else "kto" if role == LABEL else "sft"


def split_pair(messages: list[Mapping[str, Any]]) -> tuple[list[dict[str, str]], str, str]:
    """(prompt messages, chosen, rejected) of a carried pair row."""
    if row_kind(messages) != "pair":
        raise BadRow(MISSING_SIDE, "not a chosen / rejected pair")
    prompt = [{"role": str(m["role"]), "content": str(m["content"])} for m in messages[:-2]]
    return prompt, str(messages[-2]["content"]), str(messages[-1]["content"])


def split_kto(messages: list[Mapping[str, Any]]) -> tuple[list[dict[str, str]], bool]:
    """(messages ending with the answer, label) of a carried KTO row."""
    if row_kind(messages) != "kto":
        raise BadRow(MISSING_FIELD, "label")
    return [{"role": str(m["role"]), "content": str(m["content"])} for m in messages[:-1]], \
        messages[-1]["content"] == "true"


def as_sft(messages: list[Mapping[str, Any]]) -> list[Any] | None:
    """The SFT view of a carried row: a pair trains on its chosen answer, a KTO row on a desirable answer (None
    for an undesirable one); an SFT row as it is."""
    kind = row_kind(messages)
    if kind == "pair":
        prompt, chosen, _ = split_pair(messages)
        return [*prompt, {"role": "assistant", "content": chosen}]
    if kind == "kto":
        msgs, label = split_kto(messages)
        return msgs if label else None
    return list(messages)


def public_pair(messages: list[Mapping[str, Any]]) -> dict[str, Any]:
    """A carried row in its documented normalized form (``ftcore datasets show``, ``get_dataset``)."""
    kind = row_kind(messages)
    if kind == "pair":
        prompt, chosen, rejected = split_pair(messages)
        return {"messages": prompt, "chosen": chosen, "rejected": rejected}
    if kind == "kto":
        msgs, label = split_kto(messages)
        return {"messages": msgs, "label": label}
    return {"messages": list(messages)}


__all__ = ["CHOSEN", "as_sft", "IDENTICAL", "LABEL", "MISSING_SIDE", "REASONS", "REJECTED", "TOO_LONG", "is_kto", "is_pair",
           "normalize_kto", "normalize_pair", "normalize_preference_row", "public_pair",
           "row_kind", "split_kto", "split_pair"]
