"""Message content as data, never as control: special-token text in content is encoded as plain text, and
over-long content is cut to a character cap before tokenizing. Pure Python.

A user message holding the literal text ``<|im_end|>`` must not become the ``<|im_end|>`` id (a forged turn).
Before a conversation is rendered, each occurrence of a special token's text in a message's content is replaced
by as many copies of one private-use character (one per special token) as it has characters, so the rendered
text keeps every length and label span. After rendering, :func:`restore` puts the text back and returns those
character ranges (*escapes*), which the engine tokenizes with special tokens not parsed. The template's own
markers (text in its parts, id items) are untouched, so they stay the only special ids.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

#: the first private-use character standing in for special-token text (one character per special token)
SENTINEL_BASE = 0xF0000
_SENTINELS = re.compile("([\U000f0000-\U000ffffd])\\1*")

#: content longer than this many characters per max_length token is cut before tokenizing (a message that long
#: is longer than max_length tokens anyway, so the kept tokens are the same; the row counts as truncated)
CHARS_PER_TOKEN_CAP = 16


class Encoded(dict):  # type: ignore[type-arg]
    """An encoded sample (``input_ids``, ``labels`` …) that also says what happened to it: ``flags`` holds
    ``"truncated"`` (cut to max_length, or its content to the character cap) and ``"special_text"`` (its content
    held special-token text, encoded as plain text). Compares equal to a plain dict."""

    flags: frozenset[str] = frozenset()


def prepare_content(messages: Sequence[dict[str, Any]], max_length: int | None, truncation: str,
                    specials: Sequence[str], pattern: re.Pattern[str] | None
                    ) -> tuple[list[dict[str, Any]], set[str]]:
    """Content cut to the character cap and special-token text hidden, with the flags that say so."""
    flags: set[str] = set()
    msgs, capped = cap_content(messages, max_length, truncation)
    if capped:
        flags.add("truncated")
    msgs, found = protect(msgs, specials, pattern)
    if found:
        flags.add("special_text")
    return msgs, flags


def restored(segments: list[tuple[Any, Any]], flags: set[str], specials: Sequence[str]
             ) -> tuple[list[tuple[Any, Any]], list[Any]]:
    """Rendered segments with special-token text put back, and the escapes of each text segment."""
    if "special_text" not in flags:
        return segments, [None] * sum(isinstance(p, str) for p, _ in segments)
    escapes: list[Any] = []
    out: list[tuple[Any, Any]] = []
    for payload, marks in segments:
        if isinstance(payload, str):
            payload, esc = restore(payload, specials)
            escapes.append(esc or None)
        out.append((payload, marks))
    return out, escapes


def special_texts(tokenizer: Any) -> list[str]:
    """The tokenizer's special tokens as text (``all_special_tokens`` and added tokens marked special), longest
    first."""
    found = {t for t in getattr(tokenizer, "all_special_tokens", None) or [] if isinstance(t, str) and t}
    decoder = getattr(tokenizer, "added_tokens_decoder", None) or {}
    for added in decoder.values():
        if getattr(added, "special", False) and getattr(added, "content", ""):
            found.add(added.content)
    return sorted(found, key=lambda t: (-len(t), t))[: 0xFFFD]


def protect(messages: Sequence[dict[str, Any]], specials: Sequence[str], pattern: re.Pattern[str] | None
            ) -> tuple[list[dict[str, Any]], bool]:
    """``messages`` with special-token text in string contents replaced by sentinels, and whether any was."""
    if pattern is None:
        return list(messages), False
    out: list[dict[str, Any]] = []
    found = False
    index = {s: i for i, s in enumerate(specials)}
    for m in messages:
        content = m.get("content") if isinstance(m, dict) else None
        if isinstance(content, str) and pattern.search(content):
            found = True
            content = pattern.sub(lambda hit: chr(SENTINEL_BASE + index[hit.group(0)]) * len(hit.group(0)), content)
            m = {**m, "content": content}
        out.append(m)
    return out, found


def special_pattern(specials: Sequence[str]) -> re.Pattern[str] | None:
    return re.compile("|".join(re.escape(s) for s in specials)) if specials else None


def restore(text: str, specials: Sequence[str]) -> tuple[str, list[tuple[int, int]]]:
    """``text`` with sentinel runs turned back into the special-token text, and the character ranges they
    cover (same length as the sentinels, so label spans stay valid)."""
    if not specials or not _SENTINELS.search(text):
        return text, []
    parts: list[str] = []
    escapes: list[tuple[int, int]] = []
    last = 0
    for hit in _SENTINELS.finditer(text):
        k = ord(hit.group(1)) - SENTINEL_BASE
        a, b = hit.span()
        n = b - a
        if k >= len(specials):  # a private-use character of the user's own: plain text
            continue
        word = specials[k]
        parts.append(text[last:a])
        parts.append((word * (n // len(word) + 1))[:n])
        escapes.append((a, b))
        last = b
    parts.append(text[last:])
    return "".join(parts), escapes


def cap_content(messages: Sequence[dict[str, Any]], max_length: int | None, truncation: str
                ) -> tuple[list[dict[str, Any]], bool]:
    """Each string content cut to ``max_length × CHARS_PER_TOKEN_CAP`` characters (its end kept for ``left``
    truncation, its start otherwise), and whether any was."""
    if max_length is None:
        return list(messages), False
    limit = max_length * CHARS_PER_TOKEN_CAP
    out: list[dict[str, Any]] = []
    capped = False
    for m in messages:
        content = m.get("content") if isinstance(m, dict) else None
        if isinstance(content, str) and len(content) > limit:
            capped = True
            m = {**m, "content": content[-limit:] if truncation == "left" else content[:limit]}
        out.append(m)
    return out, capped


def encode_literal(backend: Any, tokenizer: Any, text: str) -> tuple[list[int], list[tuple[int, int]]]:
    """``text`` tokenized with special tokens not parsed (their text becomes ordinary tokens), with offsets."""
    if backend is not None and hasattr(backend, "encode_special_tokens"):
        old = backend.encode_special_tokens
        backend.encode_special_tokens = True
        try:
            enc = backend.encode(text, add_special_tokens=False)
        finally:
            backend.encode_special_tokens = old
        return list(enc.ids), [(int(x), int(y)) for x, y in enc.offsets]
    try:
        ids = list(tokenizer(text, add_special_tokens=False, split_special_tokens=True)["input_ids"])
    except TypeError:  # a tokenizer without split_special_tokens: character by character
        ids = [t for ch in text for t in tokenizer(ch, add_special_tokens=False)["input_ids"]]
    return ids, [(0, len(text))] * len(ids)


def tokenize_escaped(backend: Any, tokenizer: Any, text: str, spans: Any, escapes: list[tuple[int, int]]
                     ) -> tuple[list[int], Any]:
    """One text tokenized in pieces cut at its ``escapes`` (and, for a slow tokenizer, at its label ``spans``);
    the escaped pieces with special tokens not parsed. Returns ``(ids, offsets or None)`` like the engine's
    ``_tokenize``."""
    cuts = {0, len(text), *(x for e in escapes for x in e)}
    if spans and backend is None:
        cuts |= {x for span in spans for x in span}
    points = sorted(cuts)
    ids: list[int] = []
    offsets: list[tuple[int, int]] = []
    for a, b in zip(points, points[1:], strict=False):
        piece = text[a:b]
        if any(x <= a and b <= y for x, y in escapes):
            piece_ids, piece_offsets = encode_literal(backend, tokenizer, piece)
        elif backend is not None:
            enc = backend.encode(piece, add_special_tokens=False)
            piece_ids, piece_offsets = list(enc.ids), [(int(x), int(y)) for x, y in enc.offsets]
        else:
            piece_ids = list(tokenizer(piece, add_special_tokens=False)["input_ids"])
            piece_offsets = [(0, b - a)] * len(piece_ids)
        if backend is None:
            piece_offsets = [(0, b - a)] * len(piece_ids)
        ids += piece_ids
        offsets += [(a + x, a + y) for x, y in piece_offsets]
    return ids, offsets if spans else None
