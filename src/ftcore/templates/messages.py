"""Conversations as the Template engine reads them: roles, placeholders, the skip signal, messages -> rounds.

Pure Python. :data:`IGNORE_INDEX` (the label of tokens without loss) is defined here, once, for the whole package.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ftcore.errors import FtcoreError

#: the label of tokens that carry no loss (the one definition: data, collators and losses import it)
IGNORE_INDEX = -100

SYSTEM, QUERY, ROUND0, ROUND1 = "{{SYSTEM}}", "{{QUERY}}", "{{ROUND0}}", "{{ROUND1}}"
PLACEHOLDERS = (SYSTEM, QUERY, ROUND0, ROUND1)

#: roles a normalized conversation may use; the aliases name tool results the way other formats do
TOOL_ROLES = ("tool", "function", "observation", "ipython")
USER_ROLES = ("user", "human")
ASSISTANT_ROLES = ("assistant", "gpt", "bot")

#: how a tool result is shown to the model when a parts template has no tool format of its own
#: (Hermes / Qwen2.5 style; consecutive results are joined with a newline into one user turn)
TOOL_RESPONSE_FORMAT = "<tool_response>\n{content}\n</tool_response>"


class SkipSample(Exception):
    """A sample that cannot be used for training. ``reason`` is a short, stable key used to count skips:

    ``too long`` · ``multi-turn not supported`` · ``no assistant turn`` · ``no label tokens`` ·
    ``bad message`` · ``misplaced system message`` · ``labels not derivable``
    """

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail



# --------------------------------------------------------------------------------------------------
# messages -> rounds


def message_text(message: dict[str, Any]) -> str:
    """The text of a message: ``content`` (a string, or a list of text blocks) plus rendered tool calls."""
    content = message.get("content")
    if content is None:
        text = ""
    elif isinstance(content, str):
        text = content
    elif isinstance(content, list):
        text = "".join(
            block.get("text", "") if isinstance(block, dict) else str(block) for block in content
        )
    else:
        raise SkipSample("bad message", f"content of type {type(content).__name__}")
    calls = message.get("tool_calls")
    if calls:
        rendered = [render_tool_call(c) for c in calls]
        text = "\n".join(([text] if text else []) + rendered)
    return text


def render_tool_call(call: Any) -> str:
    """A function call as Hermes / Qwen2.5 render it: ``<tool_call>\\n{"name": …, "arguments": …}\\n</tool_call>``."""
    if isinstance(call, dict) and isinstance(call.get("function"), dict):
        call = call["function"]
    if not isinstance(call, dict) or "name" not in call:
        raise SkipSample("bad message", "a tool call needs a name")
    args = call.get("arguments", {})
    args_text = args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)
    return '<tool_call>\n{"name": "' + str(call["name"]) + '", "arguments": ' + args_text + "}\n</tool_call>"


def split_rounds(
    messages: Sequence[dict[str, Any]], *, generation: bool = False
) -> tuple[str | None, list[tuple[str, str | None]]]:
    """``(system, rounds)`` of a conversation; each round is ``(query, response)``.

    Consecutive user / tool messages form one query (tool results wrapped in ``<tool_response>`` tags, joined
    by newlines). Training (``generation=False``) drops trailing messages after the last assistant turn;
    generation needs the conversation to end with a user or tool turn, whose round then has response None.
    """
    if not isinstance(messages, (list, tuple)):
        raise SkipSample("bad message", "messages must be a list")
    system: str | None = None
    rounds: list[tuple[str, str | None]] = []
    pending: list[tuple[str, str]] = []  # (kind, text) of the open query
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise SkipSample("bad message", f"message {i} is not a mapping")
        role = m.get("role")
        if role == "system":
            if i != 0:
                raise SkipSample("misplaced system message", f"message {i}")
            system = message_text(m)
        elif role in USER_ROLES:
            pending.append(("user", message_text(m)))
        elif role in TOOL_ROLES:
            pending.append(("tool", TOOL_RESPONSE_FORMAT.format(content=message_text(m))))
        elif role in ASSISTANT_ROLES:
            rounds.append(("\n".join(t for _, t in pending), message_text(m)))
            pending = []
        else:
            raise SkipSample("bad message", f"message {i} has unknown role {role!r}")
    if generation:
        if not pending:
            raise FtcoreError("a generation prompt needs the conversation to end with a user (or tool) message")
        rounds.append(("\n".join(t for _, t in pending), None))
    elif not rounds:
        raise SkipSample("no assistant turn")
    return system, rounds


