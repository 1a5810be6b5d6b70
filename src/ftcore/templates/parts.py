"""Compiled template parts (text with placeholders, token-id items), segment building and the tokenizer helpers
the Template engine uses. Pure Python."""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

from ftcore.errors import FtcoreError
from ftcore.templates.messages import IGNORE_INDEX, PLACEHOLDERS

# --------------------------------------------------------------------------------------------------
# compiled parts


class TextPart:
    """A string item split at its placeholders: ``pieces`` alternates literal text and placeholder names."""

    __slots__ = ("pieces", "labelled", "literal")

    def __init__(self, text: str, labelled: bool = False):
        self.pieces = split_placeholders(text)
        self.labelled = labelled
        self.literal = text if len(self.pieces) <= 1 and not has_placeholder(text) else None

    def render(self, values: dict[str, str]) -> str:
        if self.literal is not None:
            return self.literal
        return "".join(values.get(p, p) if p in PLACEHOLDERS else p for p in self.pieces)


class IdsPart:
    """A token-id item with a label flag per id."""

    __slots__ = ("ids", "flags")

    def __init__(self, ids: list[int], flags: list[bool]):
        self.ids = ids
        self.flags = flags


def has_placeholder(text: str) -> bool:
    return any(p in text for p in PLACEHOLDERS)


def split_placeholders(text: str) -> list[str]:
    out: list[str] = []
    rest = text
    while True:
        hits = [(rest.find(p), p) for p in PLACEHOLDERS if p in rest]
        if not hits:
            if rest:
                out.append(rest)
            return out
        pos, name = min(hits)
        if pos:
            out.append(rest[:pos])
        out.append(name)
        rest = rest[pos + len(name) :]


class Segments:
    """Accumulates one conversation as segments: ``(text, labelled char spans)`` or ``(ids, label flags)``."""

    __slots__ = ("segments", "buf", "pos", "spans")

    def __init__(self) -> None:
        self.segments: list[tuple[Any, list[Any]]] = []
        self.buf: list[str] = []
        self.pos = 0
        self.spans: list[list[int]] = []

    def text(self, text: str, labelled: bool) -> None:
        if not text:
            return
        end = self.pos + len(text)
        if labelled:
            if self.spans and self.spans[-1][1] == self.pos:
                self.spans[-1][1] = end
            else:
                self.spans.append([self.pos, end])
        self.buf.append(text)
        self.pos = end

    def ids(self, ids: list[int], flags: list[bool]) -> None:
        self.flush()
        self.segments.append((ids, flags))

    def flush(self) -> None:
        if self.buf:
            self.segments.append(("".join(self.buf), self.spans))
            self.buf, self.pos, self.spans = [], 0, []

    def done(self) -> list[tuple[Any, list[Any]]]:
        self.flush()
        return self.segments

def span_labels(ids: list[int], offsets: list[tuple[int, int]], spans: list[list[int]]) -> list[int]:
    """Labels for one tokenized text: a token carries its id when its characters overlap a labelled span."""
    labels = [IGNORE_INDEX] * len(ids)
    for a, b in spans:
        i = bisect_left(offsets, (a,))
        while i > 0 and offsets[i - 1][1] > a:
            i -= 1
        j = bisect_left(offsets, (b,), i)
        labels[i:j] = ids[i:j]
    return labels


def flatten(item: Any) -> list[Any]:
    out: list[Any] = []
    for x in item:
        if isinstance(x, (list, tuple)):
            out.extend(flatten(x))
        else:
            out.append(x)
    return out


def is_processor(obj: Any) -> bool:
    return hasattr(obj, "tokenizer") and not hasattr(obj, "convert_tokens_to_ids")


def fast_backend(tokenizer: Any) -> Any:
    if not getattr(tokenizer, "is_fast", False):
        return None
    backend = getattr(tokenizer, "backend_tokenizer", None) or getattr(tokenizer, "_tokenizer", None)
    return backend if hasattr(backend, "encode_batch") else None


def single_token_id(tokenizer: Any, word: str) -> int | None:
    try:
        ids = tokenizer.encode(word, add_special_tokens=False)
    except Exception:  # noqa: BLE001 - any tokenizer that cannot encode the word simply has no such id
        return None
    return ids[0] if len(ids) == 1 else None


def split_turn_end(compiled: list[TextPart | IdsPart], stop_ids: set[int], stop_words: list[str],
                   whole_if_no_stop: bool) -> list[TextPart | IdsPart]:
    """A compiled chat_sep / suffix with its turn end flagged: the items up to and including the first stop
    token. Without a stop token the suffix is labelled whole (ms-swift) and a chat_sep not at all."""
    out: list[TextPart | IdsPart] = []
    found = False
    for item in compiled:
        if found:
            out.append(item)
            continue
        if isinstance(item, IdsPart):
            flags = []
            for tid in item.ids:
                flags.append(not found)
                found = found or tid in stop_ids
            out.append(IdsPart(item.ids, flags))
            continue
        text = item.render({})
        hits = [(text.find(w), w) for w in stop_words if w and w in text]
        if not hits:
            out.append(TextPart(text, labelled=True))
            continue
        pos, word = min(hits)
        cut = pos + len(word)
        out.append(TextPart(text[:cut], labelled=True))
        if text[cut:]:
            out.append(TextPart(text[cut:], labelled=False))
        found = True
    if not found and not whole_if_no_stop:
        for item in out:
            if isinstance(item, IdsPart):
                item.flags = [False] * len(item.ids)
            else:
                item.labelled = False
    return out


def assemble(segments: list[tuple[Any, list[Any]]], tokens: Any, everything: bool) -> tuple[list[int], list[int]]:
    """``(input_ids, labels)`` of tokenized segments (``tokens``: ``(ids, offsets)`` per text segment)."""
    input_ids: list[int] = []
    labels: list[int] = []
    it = iter(tokens)
    for payload, marks in segments:
        if isinstance(payload, str):
            ids, offsets = next(it)
            input_ids.extend(ids)
            if everything:
                labels.extend(ids)
            elif not marks:
                labels.extend([IGNORE_INDEX] * len(ids))
            else:
                labels.extend(span_labels(ids, offsets, marks))
        else:
            input_ids.extend(payload)
            labels.extend(t if f else IGNORE_INDEX for t, f in zip(payload, marks, strict=True))
    return input_ids, labels


# --------------------------------------------------------------------------------------------------
# compiling a template's parts against its tokenizer


def stop_words_and_ids(stop_words: list[str], tokenizer: Any) -> tuple[list[str], list[int]]:
    """The stop words (the spec's, then the tokenizer's eos) and the stop ids (eos, then each single-token stop
    word) a template ends generation with."""
    eos = getattr(tokenizer, "eos_token", None)
    words = list(stop_words)
    if isinstance(eos, str) and eos and eos not in words:
        words.append(eos)
    ids: list[int] = []
    eos_id = getattr(tokenizer, "eos_token_id", None)
    if isinstance(eos_id, int):
        ids.append(eos_id)
    for word in stop_words:
        tid = single_token_id(tokenizer, word)
        if tid is not None and tid not in ids:
            ids.append(tid)
    return words, ids


def compile_part(item: Any, part: str, tokenizer: Any, name: str) -> TextPart | IdsPart:
    """One item of a parts template (text, or token ids / tokenizer attribute names) compiled for ``tokenizer``."""
    if isinstance(item, str):
        return TextPart(item)
    if isinstance(item, (list, tuple)):
        ids = [resolve_token_id(x, part, tokenizer, name) for x in flatten(item)]
        return IdsPart(ids, [False] * len(ids))
    raise FtcoreError(f"template {name!r}: {part} item {item!r} is neither a string nor a token-id list")


def resolve_token_id(x: Any, part: str, tokenizer: Any, name: str) -> int:
    """A token id, or the value of the tokenizer attribute named ``x`` (``"bos_token_id"``)."""
    if isinstance(x, bool):
        raise FtcoreError(f"template {name!r}: {part}: {x!r} is not a token id")
    if isinstance(x, int):
        return x
    if isinstance(x, str):
        value = getattr(tokenizer, x, None)
        if not isinstance(value, int):
            raise FtcoreError(
                f"template {name!r} needs tokenizer.{x} ({part}), which this tokenizer does not have; "
                "pick a template that fits the model"
            )
        return value
    raise FtcoreError(f"template {name!r}: {part}: {x!r} is not a token id or tokenizer attribute name")
