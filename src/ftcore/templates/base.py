"""The Template engine: messages -> ``input_ids`` + ``labels`` in ms-swift's four-part form.

A :class:`~ftcore.specs.TemplateSpec` names four parts, each a list of items (strings with placeholders, or
token-id lists such as ``[195]`` / ``["eos_token_id"]``)::

    prefix                      once, at the start            {{SYSTEM}}
    prompt                      once per round                {{QUERY}} {{ROUND0}} {{ROUND1}}
    <response>                  the assistant's answer
    chat_sep                    after each history round      (None: single turn only)
    suffix                      after the final answer        (training only)

How a conversation becomes tokens (see docs/templates.md for the full rules):

* the parts are rendered into *segments*: runs of text, separated by token-id items. Each text segment is
  tokenized as one string (``add_special_tokens=False``), response included, so the tokens are exactly those
  of the model's official chat format rendered as one string (``tokenizer.apply_chat_template``);
* loss is assigned by character span: an answer's text plus its *turn end* carry labels. The turn end is the
  part of ``chat_sep`` / ``suffix`` up to and including the first stop token (eos or a stop word); what comes
  after it (chatml's ``"\\n"`` after ``<|im_end|>``, llama's ``<bos>[INST]``) is context, never generated, so
  it carries no loss. A suffix without any stop token is labelled whole (ms-swift's behaviour);
* ``loss_on = "last"`` labels the final answer only (ms-swift), ``"all"`` every assistant turn;
  ``train_on_prompt = True`` labels every token (continued pre-training style);
* truncation ``left`` keeps the last ``max_length`` tokens (ms-swift), ``right`` the first, ``drop`` skips; a
  sample left with no labelled token is skipped (:class:`SkipSample`), never trained on.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from ftcore.errors import FtcoreError
from ftcore.specs import DEFAULT_SYSTEM, TemplateSpec
from ftcore.templates.content import (
    CHARS_PER_TOKEN_CAP,
    Encoded,
    prepare_content,
    restored,
    special_pattern,
    special_texts,
    tokenize_escaped,
)
from ftcore.templates.messages import (
    IGNORE_INDEX,
    QUERY,
    ROUND0,
    ROUND1,
    SYSTEM,
    SkipSample,
    split_rounds,
)
from ftcore.templates.parts import (
    IdsPart,
    Segments,
    TextPart,
    assemble,
    compile_part,
    fast_backend,
    is_processor,
    split_turn_end,
    stop_words_and_ids,
)

#: bump when the encoding rules change, so that caches of encoded data (keyed by ``fingerprint()``) refresh
ENGINE_VERSION = 2

TRUNCATIONS = ("left", "right", "drop")

LOSS_ON = ("last", "all")


class Template:
    """Encodes conversations for one tokenizer with one :class:`TemplateSpec` (training and inference alike).

    :param spec: the template's catalog entry.
    :param tokenizer: the model's tokenizer (a processor's ``.tokenizer`` is used).
    :param system: the default system prompt (None: the spec's own, else :data:`DEFAULT_SYSTEM`); a
        conversation's own system message wins.
    :param max_length: tokens per sample (None or -1: no limit).
    :param truncation: ``left`` (keep the last tokens; ms-swift), ``right`` (keep the first) or ``drop``.
    :param loss_on: ``last`` (the final answer; ms-swift) or ``all`` assistant turns.
    :param train_on_prompt: every token carries loss (continued pre-training style).
    """

    def __init__(
        self,
        spec: TemplateSpec,
        tokenizer: Any,
        *,
        system: str | None = None,
        max_length: int | None = None,
        truncation: str = "left",
        loss_on: str = "last",
        train_on_prompt: bool = False,
        parse_special_in_content: bool = False,
    ):
        self.spec = spec
        self.parse_special_in_content = parse_special_in_content
        self.tokenizer: Any = tokenizer.tokenizer if is_processor(tokenizer) else tokenizer
        self.processor: Any = tokenizer
        self._backend = fast_backend(self.tokenizer)
        self.configure(
            system=system,
            max_length=max_length,
            truncation=truncation,
            loss_on=loss_on,
            train_on_prompt=train_on_prompt,
        )
        self._setup()

    # ------------------------------------------------------------------ settings

    def configure(self, **settings: Any) -> Template:
        """Change settings in place (``system``, ``max_length``, ``truncation``, ``loss_on``,
        ``train_on_prompt``) and return the template."""
        for key, value in settings.items():
            if key == "system":
                self._system_arg = value
            elif key == "max_length":
                if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                    raise FtcoreError(f"template.max_length: must be an integer (got {value!r})")
                self.max_length = None if value is None or value < 0 else value
                if self.max_length == 0:
                    raise FtcoreError("template.max_length: must be positive, or -1 for no limit")
            elif key == "truncation":
                if value not in TRUNCATIONS:
                    raise FtcoreError(f"template.truncation: use one of {', '.join(TRUNCATIONS)} (got {value!r})")
                self.truncation = value
            elif key == "loss_on":
                if value not in LOSS_ON:
                    raise FtcoreError(f"template.loss_on: use one of {', '.join(LOSS_ON)} (got {value!r})")
                self.loss_on = value
            elif key == "train_on_prompt":
                self.train_on_prompt = bool(value)
            elif key == "parse_special_in_content":
                self.parse_special_in_content = bool(value)
            else:
                raise TypeError(f"unknown template setting {key!r}")
        return self

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def system(self) -> str:
        """The system prompt used when a conversation brings none."""
        if self._system_arg is not None:
            return self._system_arg
        if self.spec.system is not None:
            return self.spec.system
        return DEFAULT_SYSTEM

    @property
    def has_system(self) -> bool:
        """The template has a ``{{SYSTEM}}`` slot (templates without one ignore system prompts, as ms-swift)."""
        return any(isinstance(i, str) and SYSTEM in i for i in self.spec.prefix)

    @property
    def supports_multi_turn(self) -> bool:
        return self.spec.chat_sep is not None

    # ------------------------------------------------------------------ multimodal defaults (text-only here)

    #: whether the template uses a row's images (a subclass that does sets True and overrides the two methods
    #: below; see :class:`ftcore.templates.MultimodalTemplate`)
    takes_images: bool = False
    #: the tokenizer's own chat_template when the template renders with it (:class:`JinjaTemplate`)
    chat_template: str | None = None
    #: where an image goes in a user turn
    image_placeholder: str = "<image>"
    #: special tokens the template itself writes into content (image blocks); other special text there is plain
    content_specials: tuple[str, ...] = ()

    def collate(self, features: list[dict[str, Any]]) -> dict[str, Any] | None:
        """A batch of samples with images; None (the default) lets the core's collator build it."""
        return None

    def encode_prompt_with_images(self, messages: Sequence[dict[str, Any]], images: Sequence[Any]) -> dict[str, Any]:
        """The generation prompt with images (multimodal templates override this)."""
        raise FtcoreError(f"template {self.name!r} takes no images (a multimodal template does, e.g. qwen2-vl)")

    @classmethod
    def build(cls, spec: TemplateSpec, tokenizer: Any) -> Template:
        """The template for ``spec`` bound to ``tokenizer``; the built-in ``build_template`` hook calls this on
        ``spec.template_class``. A subclass overrides it to pick another class for some tokenizers."""
        return cls(spec, tokenizer)

    # ------------------------------------------------------------------ compiled parts

    def _setup(self) -> None:
        self.stop_words, self.stop_token_ids = stop_words_and_ids(self.spec.stop_words, self.tokenizer)
        if self.spec.kind != "parts":
            return
        self._prefix = [compile_part(i, "prefix", self.tokenizer, self.name) for i in self.spec.prefix]
        self._prompt = [compile_part(i, "prompt", self.tokenizer, self.name) for i in self.spec.prompt]
        self._chat_sep = (
            None if self.spec.chat_sep is None else self._split_turn_end(self.spec.chat_sep, "chat_sep", False)
        )
        self._suffix = self._split_turn_end(self.spec.suffix, "suffix", True)

    def _split_turn_end(self, items: list[Any], part: str, whole_if_no_stop: bool) -> list[TextPart | IdsPart]:
        """Compile a chat_sep / suffix and flag its turn end (see :func:`ftcore.templates.parts.split_turn_end`)."""
        return split_turn_end([compile_part(i, part, self.tokenizer, self.name) for i in items],
                              set(self.stop_token_ids), self.stop_words, whole_if_no_stop)

    # ------------------------------------------------------------------ rendering

    def _segments(self, messages: Sequence[dict[str, Any]], generation: bool) -> list[tuple[Any, list[Any]]]:
        """The conversation as segments with label marks (before tokenization)."""
        system, rounds = split_rounds(messages, generation=generation)
        if len(rounds) > 1 and self._chat_sep is None:
            raise SkipSample("multi-turn not supported", f"template {self.name!r} takes a single turn")
        if system is None:
            system = self.system
        everything = self.train_on_prompt
        all_turns = self.loss_on == "all"
        seg = Segments()
        values = {SYSTEM: system}
        self._emit(seg, self._prefix, values, everything, None)
        last = len(rounds) - 1
        for i, (query, response) in enumerate(rounds):
            values = {QUERY: query, ROUND0: str(i), ROUND1: str(i + 1)}
            self._emit(seg, self._prompt, values, everything, None)
            if response is None:
                break
            labelled = everything or all_turns or i == last
            seg.text(response, labelled)
            if i == last:
                if not generation:
                    self._emit(seg, self._suffix, values, everything, labelled)
            else:
                self._emit(seg, self._chat_sep or [], values, everything, labelled)
        return seg.done()

    @staticmethod
    def _emit(
        seg: Segments, items: list[TextPart | IdsPart], values: dict[str, str], everything: bool, turn: bool | None
    ) -> None:
        """Add a part's items; ``turn`` says whether the turn's answer is labelled (None: a prompt part)."""
        for item in items:
            if isinstance(item, IdsPart):
                if everything:
                    flags = [True] * len(item.ids)
                elif turn:
                    flags = item.flags
                else:
                    flags = [False] * len(item.ids)
                seg.ids(item.ids, flags)
            else:
                seg.text(item.render(values), everything or bool(turn and item.labelled))

    # ------------------------------------------------------------------ tokenizing

    def _content_state(self) -> tuple[list[str], Any]:  # the special texts escaped in content, their pattern
        state = getattr(self, "_content_cache", None)
        if state is None or state[2] != self.parse_special_in_content:
            specials = [] if self.parse_special_in_content else [
                t for t in special_texts(self.tokenizer) if t not in self.content_specials]
            state = self._content_cache = (specials, special_pattern(specials), self.parse_special_in_content)
        return state[0], state[1]

    def _prepare(self, messages: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], set[str]]:
        specials, pattern = self._content_state()
        return prepare_content(messages, self.max_length, self.truncation, specials, pattern)

    def _tokenize(self, texts: list[str], spans: list[Any], escapes: list[Any] | None = None
                  ) -> list[tuple[list[int], Any]]:
        """``(ids, offsets or None)`` per text; offsets only where ``spans`` (the labelled char spans) is given.

        A fast tokenizer encodes the whole batch in one call. A slow one tokenizes each text in pieces cut at the
        span boundaries (ms-swift's way) and gives every token its piece's span as offsets. ``escapes``: see
        :func:`ftcore.templates.content.tokenize_escaped`."""
        if not texts:
            return []
        if escapes is not None and any(escapes):
            plain = [i for i, e in enumerate(escapes) if not e]
            done = dict(zip(plain, self._tokenize([texts[i] for i in plain], [spans[i] for i in plain]),
                            strict=True))
            return [done[i] if i in done else
                    tokenize_escaped(self._backend, self.tokenizer, texts[i], spans[i], escapes[i])
                    for i in range(len(texts))]
        if self._backend is not None:
            encs = self._backend.encode_batch(texts, add_special_tokens=False)
            return [(e.ids, e.offsets if sp else None) for e, sp in zip(encs, spans, strict=True)]
        out: list[tuple[list[int], Any]] = []
        for text, sp in zip(texts, spans, strict=True):
            if not sp:
                out.append((self._encode_text(text), None))
                continue
            cuts = sorted({0, len(text), *(x for span in sp for x in span)})
            ids: list[int] = []
            offsets: list[tuple[int, int]] = []
            for a, b in zip(cuts, cuts[1:], strict=False):
                piece = self._encode_text(text[a:b])
                ids += piece
                offsets += [(a, b)] * len(piece)
            out.append((ids, offsets))
        return out

    def _encode_text(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _assemble(self, segments: list[tuple[Any, list[Any]]], tokens: Iterable[tuple[list[int], Any]]):
        return assemble(segments, tokens, self.train_on_prompt)

    # ------------------------------------------------------------------ public API

    def encode(self, messages: Sequence[dict[str, Any]], images: Any = None) -> dict[str, list[int]]:
        """``{"input_ids", "labels"}`` of one conversation (labels ``-100`` where no loss is taken).

        Raises :class:`SkipSample` for a sample that cannot be used. ``images`` is accepted for multimodal
        template subclasses; text-only templates ignore it.
        """
        result = self.encode_batch([messages])[0]
        if isinstance(result, SkipSample):
            raise result
        return result

    def encode_batch(
        self, conversations: Sequence[Sequence[dict[str, Any]]], images: Any = None
    ) -> list[dict[str, list[int]] | SkipSample]:
        """Encode many conversations with one batched tokenizer call; a sample that cannot be used yields its
        :class:`SkipSample` in place of the dict (nothing is raised). With ``images`` (one list per conversation)
        each sample goes through ``encode(messages, images)`` instead, so multimodal templates need not batch."""
        if images is not None and any(images):
            encoded: list[dict[str, list[int]] | SkipSample] = []
            for messages, imgs in zip(conversations, images, strict=True):
                try:
                    encoded.append(self.encode(messages, imgs or None))
                except SkipSample as exc:
                    encoded.append(exc)
            return encoded
        built: list[Any] = []
        texts: list[str] = []
        spans: list[Any] = []
        escapes: list[Any] = []
        all_flags: list[set[str]] = []
        for messages in conversations:
            messages, flags = self._prepare(messages)
            all_flags.append(flags)
            try:
                segments = self._segments(messages, generation=False)
            except SkipSample as exc:
                built.append(exc)
                continue
            segments, escs = restored(segments, flags, self._content_state()[0])
            built.append(segments)
            escapes.extend(escs)
            for payload, marks in segments:
                if isinstance(payload, str):
                    texts.append(payload)
                    spans.append(marks if marks and not self.train_on_prompt else None)
        tokens = iter(self._tokenize(texts, spans, escapes))
        out: list[dict[str, list[int]] | SkipSample] = []
        for item, flags in zip(built, all_flags, strict=True):
            if isinstance(item, SkipSample):
                out.append(item)
                continue
            n_text = sum(1 for payload, _ in item if isinstance(payload, str))
            ids, labels = self._assemble(item, [next(tokens) for _ in range(n_text)])
            out.append(self._finish(ids, labels, flags))
        return out

    def _finish(self, ids: list[int], labels: list[int], flags: set[str] | None = None
                ) -> dict[str, list[int]] | SkipSample:
        flags = set(flags or ())
        truncated = False
        if self.max_length is not None and len(ids) > self.max_length:
            truncated = True
            if self.truncation == "drop":
                return SkipSample("too long", f"{len(ids)} tokens > max_length {self.max_length}")
            if self.truncation == "left":
                ids, labels = ids[-self.max_length :], labels[-self.max_length :]
            else:
                ids, labels = ids[: self.max_length], labels[: self.max_length]
        if labels.count(IGNORE_INDEX) == len(labels):
            if truncated:
                return SkipSample("too long", f"no labelled token left after {self.truncation} truncation")
            return SkipSample("no label tokens")
        if truncated:
            flags.add("truncated")
        out = Encoded(input_ids=ids, labels=labels)
        out.flags = frozenset(flags)
        return out

    def encode_prompt(self, messages: Sequence[dict[str, Any]]) -> list[int]:
        """The generation prompt: the conversation (ending with a user or tool turn) and an open assistant turn.

        Over-long prompts are cut from the left (``max_length``), as ms-swift does at inference.
        """
        messages, flags = self._prepare(messages)
        segments, escapes = restored(self._segments(messages, generation=True), flags, self._content_state()[0])
        texts = [p for p, _ in segments if isinstance(p, str)]
        tokens = self._tokenize(texts, [None] * len(texts), escapes)
        ids: list[int] = []
        it = iter(tokens)
        for payload, _ in segments:
            ids.extend(next(it)[0] if isinstance(payload, str) else payload)
        if self.max_length is not None and len(ids) > self.max_length:
            ids = ids[-self.max_length :]
        return ids

    def render(self, messages: Sequence[dict[str, Any]], *, generation: bool = False) -> str:
        """The conversation as text (token-id items decoded), for display and checks."""
        if generation:
            return self.tokenizer.decode(self.encode_prompt(messages))
        segments = self._segments(messages, generation=False)
        return "".join(p if isinstance(p, str) else self.tokenizer.decode(p) for p, _ in segments)

    def fingerprint(self) -> str:
        """A hash of everything that decides the encoding except the tokenizer (the data cache adds that)."""
        import hashlib

        from ftcore.specs import spec_to_dict

        spec = {k: v for k, v in spec_to_dict(self.spec).items() if k not in ("description", "plugin", "tags")}
        state = {
            "engine": ENGINE_VERSION,
            "class": f"{type(self).__module__}.{type(self).__qualname__}",
            "spec": spec,
            "system": self.system,
            "max_length": self.max_length,
            "truncation": self.truncation,
            "loss_on": self.loss_on,
            "train_on_prompt": self.train_on_prompt,
            "parse_special_in_content": self.parse_special_in_content,
            "content_chars_per_token": CHARS_PER_TOKEN_CAP,
            "stop_words": self.stop_words,
            "chat_template": self.chat_template,
        }
        return hashlib.sha256(json.dumps(state, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.name!r} max_length={self.max_length} truncation={self.truncation!r} "
            f"loss_on={self.loss_on!r} train_on_prompt={self.train_on_prompt}>"
        )


# --------------------------------------------------------------------------------------------------
