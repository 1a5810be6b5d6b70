"""``template = "jinja"``: encode with the tokenizer's own chat_template, labels derived without markers.

The conversation is rendered once, as the model's authors meant (``apply_chat_template``). Which characters
carry loss is found without ``{% generation %}`` markers:

* an assistant turn starts where the rendering of the conversation *before* it, with the generation prompt
  (``add_generation_prompt=True``), ends — so whatever the model must produce after the prompt (Qwen3's
  ``<think>`` block included) is learned; if that rendering is not a prefix of the whole, the turn starts at
  its content;
* it ends after the first turn-end token that follows its content (the tokenizer's eos, the template's own
  end-of-turn token found by probing, or a stop word), provided that comes before the next message.

The text is tokenized in one piece, so ``input_ids`` equal ``apply_chat_template(..., tokenize=True)``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ftcore.errors import FtcoreError
from ftcore.templates.base import Template
from ftcore.templates.messages import ASSISTANT_ROLES, TOOL_ROLES, USER_ROLES, SkipSample
from ftcore.templates.parts import single_token_id

_PROBE = "FTCOREPROBE"


class JinjaTemplate(Template):
    """A template that renders with ``tokenizer.chat_template`` (the spec's parts are unused)."""

    def _setup(self) -> None:
        super()._setup()
        self.chat_template = getattr(self.tokenizer, "chat_template", None)
        if not self.chat_template:
            raise FtcoreError(
                "template 'jinja' needs a tokenizer with a chat_template; this one has none "
                "(name a template with template.name, e.g. 'default' or 'chatml')"
            )
        self.turn_end = self._probe_turn_end()
        if self.turn_end and self.turn_end not in self.stop_words:
            self.stop_words.insert(0, self.turn_end)
            tid = single_token_id(self.tokenizer, self.turn_end)
            if tid is not None and tid not in self.stop_token_ids:
                self.stop_token_ids.append(tid)
        # special tokens other than the stop words mark where the next message begins (<|im_start|> …): a turn
        # end is only looked for before the first of them
        others = [t for t in self._special_tokens() if t not in self.stop_words]
        self._next_message = re.compile("|".join(map(re.escape, others))) if others else None

    @property
    def system(self) -> str | None:  # type: ignore[override]
        """The system prompt added when a conversation brings none; None leaves it to the chat_template."""
        return self._system_arg

    @property
    def has_system(self) -> bool:
        return True

    @property
    def supports_multi_turn(self) -> bool:
        return True

    # ------------------------------------------------------------------

    def _probe_turn_end(self) -> str | None:
        """The special token that closes an assistant turn in this chat_template (``<|im_end|>``, ``</s>`` …)."""
        try:
            text = self._render([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": _PROBE}])
        except SkipSample:
            return None
        pos = text.rfind(_PROBE)
        if pos < 0:
            return None
        tail = text[pos + len(_PROBE) :]
        stripped = tail.lstrip(" \n")
        for token in self._special_tokens():
            if stripped.startswith(token):
                return token
        eos = getattr(self.tokenizer, "eos_token", None)
        if eos and eos in tail:
            return eos
        return None

    def _special_tokens(self) -> list[str]:
        """The tokenizer's special tokens as text, longest first."""
        tok = self.tokenizer
        found = {t for t in getattr(tok, "all_special_tokens", []) if isinstance(t, str) and t}
        for added in getattr(tok, "added_tokens_decoder", {}).values():
            if getattr(added, "special", False) and getattr(added, "content", ""):
                found.add(added.content)
        return sorted(found, key=len, reverse=True)

    def _render(self, messages: list[dict[str, Any]], add_generation_prompt: bool = False) -> str:
        try:
            return self.tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=add_generation_prompt
            )
        except Exception as exc:  # noqa: BLE001 - the chat_template rejects this conversation
            raise SkipSample("bad message", f"chat_template: {type(exc).__name__}: {exc}") from None

    def _messages(self, messages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        if not isinstance(messages, (list, tuple)):
            raise SkipSample("bad message", "messages must be a list")
        out: list[dict[str, Any]] = []
        for i, m in enumerate(messages):
            if not isinstance(m, dict):
                raise SkipSample("bad message", f"message {i} is not a mapping")
            role = m.get("role")
            if role in USER_ROLES:
                role = "user"
            elif role in ASSISTANT_ROLES:
                role = "assistant"
            elif role in TOOL_ROLES:
                role = "tool"
            elif role == "system":
                if i != 0:
                    raise SkipSample("misplaced system message", f"message {i}")
            else:
                raise SkipSample("bad message", f"message {i} has unknown role {role!r}")
            content = m.get("content")
            if content is None:
                content = ""
            elif isinstance(content, list):
                content = "".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in content)
            elif not isinstance(content, str):
                raise SkipSample("bad message", f"content of type {type(content).__name__}")
            msg = {"role": role, "content": content}
            for key in ("tool_calls", "name", "tool_call_id", "reasoning_content"):
                if m.get(key) is not None:
                    msg[key] = m[key]
            out.append(msg)
        if self._system_arg is not None and (not out or out[0]["role"] != "system"):
            out.insert(0, {"role": "system", "content": self._system_arg})
        return out

    def _segments(self, messages: Sequence[dict[str, Any]], generation: bool) -> list[tuple[Any, list[Any]]]:
        msgs = self._messages(messages)
        if generation:
            if not msgs or msgs[-1]["role"] in ("assistant", "system"):
                raise FtcoreError("a generation prompt needs the conversation to end with a user (or tool) message")
            return [(self._render(msgs, add_generation_prompt=True), [])]
        last = max((i for i, m in enumerate(msgs) if m["role"] == "assistant"), default=-1)
        if last < 0:
            raise SkipSample("no assistant turn")
        msgs = msgs[: last + 1]
        text = self._render(msgs)
        if self.train_on_prompt:
            return [(text, [[0, len(text)]])]
        turns = [i for i, m in enumerate(msgs) if m["role"] == "assistant"]
        if self.loss_on == "last":
            turns = turns[-1:]
        spans: list[list[int]] = []
        cursor = 0
        for idx in turns:
            span = self._turn_span(msgs, idx, text, cursor)
            spans.append(span)
            cursor = span[1]
        return [(text, spans)]

    def _turn_span(self, msgs: list[dict[str, Any]], idx: int, text: str, cursor: int) -> list[int]:
        start: int | None = None
        if idx > 0:
            try:
                head = self._render(msgs[:idx], add_generation_prompt=True)
            except SkipSample:
                head = None
            if head is not None and text.startswith(head) and len(head) >= cursor:
                start = len(head)
        content = msgs[idx]["content"]
        search_from = cursor if start is None else start
        content_end: int | None
        if content:
            pos = text.find(content, search_from)
            if pos < 0:
                content_end = None
            else:
                content_end = pos + len(content)
                if start is None:
                    start = pos
        else:
            content_end = search_from if start is not None else None
        if start is None:
            raise SkipSample("labels not derivable", f"assistant message {idx} not found in the rendered text")
        after = content_end if content_end is not None else start
        bound = len(text)
        if self._next_message is not None:
            nxt = self._next_message.search(text, after)
            if nxt is not None:
                bound = nxt.start()
        hits = [p for p in (text.find(w, after, bound) for w in self.stop_words if w) if p >= 0]
        if hits:
            pos = min(hits)
            word = next(w for w in self.stop_words if w and text.startswith(w, pos))
            return [start, pos + len(word)]
        if content_end is None:
            raise SkipSample("labels not derivable", f"assistant message {idx} not found in the rendered text")
        return [start, content_end]
