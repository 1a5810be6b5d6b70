"""Generation with a trained model: one answer (``inference``) or text deltas as they come (``inference_stream``).

The prompt is the template's own generation prompt (``Template.encode_prompt``: the conversation so far and an
open assistant turn), and generation stops on the template's stop token ids and stop words plus the tokenizer's
eos — the same template object that encoded the training data, so what is served is what was trained.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from queue import Queue
from typing import Any, cast

from ftcore.errors import FtcoreError
from ftcore.templates.protocol import MultimodalTemplate, TemplateProtocol

#: ms-swift's generation options (``[generation]`` of run.toml, ``ftcore infer`` flags)
GENERATION_KEYS = ("max_new_tokens", "do_sample", "temperature", "top_k", "top_p", "repetition_penalty")

#: a history turn: a (query, response) pair as in ms-swift, or a message dict {"role", "content"}
HistoryItem = Any


def build_messages(
    query: str, history: Iterable[HistoryItem] = (), system: str | None = None
) -> list[dict[str, str]]:
    """Messages for ``query`` after ``history``; ``system`` None keeps the template's (or the run's) system prompt.

    ``history`` holds ``(query, response)`` pairs (ms-swift's form) or message dicts.
    """
    messages: list[dict[str, str]] = []
    for item in history:
        if isinstance(item, Mapping):
            messages.append({"role": str(item["role"]), "content": str(item["content"])})
        else:
            try:
                q, r = item
            except (TypeError, ValueError):
                raise FtcoreError(
                    f"history: each turn must be a (query, response) pair or a message dict (got {item!r})"
                ) from None
            messages += [{"role": "user", "content": str(q)}, {"role": "assistant", "content": str(r)}]
    if system is not None and not (messages and messages[0]["role"] == "system"):
        messages.insert(0, {"role": "system", "content": system})
    messages.append({"role": "user", "content": str(query)})
    return messages


def generation_settings(base: Any = None, **overrides: Any) -> Any:
    """A validated :class:`ftcore.config.GenerationConfig`: ``base`` (a GenerationConfig, a dict, or None for the
    defaults) with ``overrides`` applied; None values are ignored. Unknown or invalid options raise FtcoreError."""
    from pydantic import ValidationError

    from ftcore.config import GenerationConfig

    unknown = sorted(set(overrides) - set(GENERATION_KEYS))
    if unknown:
        raise FtcoreError(f"unknown generation option {unknown[0]!r} (known: {', '.join(GENERATION_KEYS)})")
    if base is None:
        data: dict[str, Any] = {}
    elif isinstance(base, GenerationConfig):
        data = base.model_dump()
    else:
        data = dict(base)
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return GenerationConfig(**data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        raise FtcoreError(f"generation.{key}: {err['msg']} (got {err.get('input')!r})") from None


def _tokenizer_of(template: Any) -> Any:
    tokenizer = template.tokenizer
    if tokenizer is None:
        raise FtcoreError("the template has no tokenizer; build it with ftcore.get_template(name, tokenizer)")
    return tokenizer


def stop_token_ids(template: Any) -> list[int]:
    """Token ids that end generation: the template's stop ids, then the tokenizer's eos."""
    tokenizer = _tokenizer_of(template)
    ids: list[int] = []
    for i in [*template.stop_token_ids, tokenizer.eos_token_id]:
        if isinstance(i, int) and i not in ids:
            ids.append(i)
    return ids


def _hf_generation_config(gen: Any, template: Any) -> Any:
    from transformers import GenerationConfig as HFGenerationConfig

    tokenizer = _tokenizer_of(template)
    stops = stop_token_ids(template)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (stops[0] if stops else None)
    do_sample = gen.do_sample and gen.temperature > 0  # temperature 0 means greedy
    kwargs: dict[str, Any] = dict(
        max_new_tokens=gen.max_new_tokens,
        do_sample=do_sample,
        repetition_penalty=gen.repetition_penalty,
        eos_token_id=stops or None,
        pad_token_id=pad,
    )
    if do_sample:
        kwargs.update(temperature=gen.temperature, top_k=gen.top_k, top_p=gen.top_p)
    else:  # unset the sampling knobs so a model's own generation_config cannot warn about them
        kwargs.update(temperature=None, top_k=None, top_p=None)
    return HFGenerationConfig(**kwargs)


class StopWordFilter:
    """Cuts a stream of text at the first stop word, holding back a tail that may be the start of one."""

    def __init__(self, stop_words: Sequence[str]):
        self.words = [w for w in stop_words if w]
        self.buffer = ""
        self.stopped = False

    def feed(self, text: str) -> str:
        """The part of ``text`` (after what was held back) that is safe to show."""
        if self.stopped:
            return ""
        self.buffer += text
        hits = [i for i in (self.buffer.find(w) for w in self.words) if i >= 0]
        if hits:
            out, self.buffer, self.stopped = self.buffer[: min(hits)], "", True
            return out
        hold = 0
        for w in self.words:
            for k in range(min(len(w) - 1, len(self.buffer)), hold, -1):
                if self.buffer.endswith(w[:k]):
                    hold = k
                    break
        out = self.buffer[: len(self.buffer) - hold]
        self.buffer = self.buffer[len(self.buffer) - hold :]
        return out

    def flush(self) -> str:
        out, self.buffer = ("" if self.stopped else self.buffer), ""
        return out


def _make_stopper(template: Any, prompt_len: int, cancel: threading.Event | None) -> Any:
    import torch
    from transformers import StoppingCriteria

    tokenizer = _tokenizer_of(template)
    words = [w for w in template.stop_words if w]
    window = max((len(tokenizer.encode(w, add_special_tokens=False)) for w in words), default=0) + 2

    class _Stop(StoppingCriteria):
        """Stops on a stop word in the new text (stop words that are not single stop tokens) or on cancel."""

        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            done = cancel is not None and cancel.is_set()
            if not done and words and input_ids.shape[1] > prompt_len:
                tail = tokenizer.decode(input_ids[0, max(prompt_len, input_ids.shape[1] - window) :].tolist())
                done = any(w in tail for w in words)
            return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)

    return _Stop()


def _prompt_ids(
    template: Any,
    query: str | None,
    history: Iterable[HistoryItem],
    system: str | None,
    input_ids: Sequence[int] | None,
) -> list[int]:
    if input_ids is not None:
        return list(input_ids)
    if query is None:
        raise FtcoreError("give a query (or input_ids)")
    messages = build_messages(query, history, system)
    try:
        return list(template.encode_prompt(messages))
    except Exception as exc:  # SkipSample and friends: say why in one line
        if isinstance(exc, FtcoreError):
            raise
        reason = getattr(exc, "reason", None) or str(exc)
        raise FtcoreError(
            f"cannot build the prompt with template {_template_name(template)!r}: {reason}"
        ) from None


def _prompt_with_images(
    template: Any,
    query: str | None,
    history: Iterable[HistoryItem],
    system: str | None,
    images: Sequence[Any],
) -> tuple[list[int], dict[str, Any]]:
    """(prompt ids, extra model inputs such as ``pixel_values``) through the template's
    ``encode_prompt_with_images(messages, images)`` (docs/multimodal.md)."""
    if not template.takes_images:
        raise FtcoreError(f"template {_template_name(template)!r} takes no images (a multimodal template does, "
                          "e.g. qwen2-vl)")
    mm = cast(MultimodalTemplate, template)
    if query is None:
        raise FtcoreError("give a query with the images")
    history = list(history)
    mark = mm.image_placeholder
    if history and mark not in query:  # the images belong to this turn, not to the first one
        query = mark * len(images) + query
    messages = build_messages(query, history, system)
    try:
        enc = dict(mm.encode_prompt_with_images(messages, list(images)))
    except Exception as exc:  # SkipSample (image not found, placeholder mismatch): one line
        if isinstance(exc, FtcoreError):
            raise
        detail = getattr(exc, "detail", None)
        reason = (getattr(exc, "reason", None) or str(exc)) + (f" ({detail})" if detail else "")
        raise FtcoreError(f"cannot build the prompt with images ({_template_name(template)!r}): {reason}") from None
    ids = list(enc.pop("input_ids"))
    return ids, enc


def _extra_tensors(model: Any, extra: dict[str, Any] | None, n_ids: int) -> dict[str, Any]:
    """Extra model inputs as tensors on the model's device (float ones in the model's dtype; per-token lists as a
    batch of one)."""
    import torch

    if not extra:
        return {}
    device = _device_of(model)
    dtype = getattr(model, "dtype", None)
    out: dict[str, Any] = {}
    for key, value in extra.items():
        t = value if torch.is_tensor(value) else torch.as_tensor(value)
        if t.dim() == 1 and len(t) == n_ids:
            t = t.unsqueeze(0)
        if t.is_floating_point() and isinstance(dtype, torch.dtype) and dtype.is_floating_point:
            t = t.to(dtype)
        out[key] = t.to(device)
    return out


def _template_name(template: TemplateProtocol) -> str:
    return template.spec.name


def _device_of(model: Any) -> Any:
    device = getattr(model, "device", None)
    if device is None:
        device = next(model.parameters()).device
    return device


def _generate_kwargs(
    model: Any, template: Any, ids: list[int], gen: Any, cancel: threading.Event | None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    import torch
    from transformers import StoppingCriteriaList

    device = _device_of(model)
    tensor = torch.tensor([ids], dtype=torch.long, device=device)
    return dict(
        input_ids=tensor,
        attention_mask=torch.ones_like(tensor),
        generation_config=_hf_generation_config(gen, template),
        stopping_criteria=StoppingCriteriaList([_make_stopper(template, len(ids), cancel)]),
        **_extra_tensors(model, extra, len(ids)),
    )


def decode_response(template: Any, new_ids: Sequence[int]) -> str:
    """Text of generated ids: stop tokens and special tokens dropped, cut at the first stop word."""
    tokenizer = _tokenizer_of(template)
    stops = set(stop_token_ids(template))
    text = tokenizer.decode([i for i in new_ids if i not in stops], skip_special_tokens=True)
    f = StopWordFilter(template.stop_words)
    return f.feed(text) + f.flush()


def inference(
    model: Any,
    template: Any,
    query: str | None = None,
    history: Iterable[HistoryItem] = (),
    system: str | None = None,
    *,
    generation: Any = None,
    input_ids: Sequence[int] | None = None,
    images: Sequence[Any] | None = None,
    **options: Any,
) -> str:
    """Answer ``query`` after ``history`` (``(query, response)`` pairs or message dicts) and return the text.

    ``generation`` is a :class:`ftcore.config.GenerationConfig` (or dict) to start from; ``options`` override
    single settings (``max_new_tokens``, ``do_sample``, ``temperature``, ``top_k``, ``top_p``,
    ``repetition_penalty``). ``input_ids`` replaces the query by a ready prompt (as in dataset mode).
    ``images`` (paths or PIL images) go with the query through a multimodal template (docs/multimodal.md).
    """
    import torch

    gen = generation_settings(generation, **options)
    extra: dict[str, Any] = {}
    if images:
        ids, extra = _prompt_with_images(template, query, history, system, images)
    else:
        ids = _prompt_ids(template, query, history, system, input_ids)
    with torch.inference_mode():
        out = model.generate(**_generate_kwargs(model, template, ids, gen, None, extra))
    return decode_response(template, out[0, len(ids) :].tolist())


class _DeltaStreamer:
    """A transformers streamer that queues the new text of each step (cumulative decode, so deltas join exactly)."""

    def __init__(self, template: Any):
        self.tokenizer = _tokenizer_of(template)
        self.stops = set(stop_token_ids(template))
        self.queue: Queue[str | None] = Queue()
        self.tokens: list[int] = []
        self.sent = 0
        self.prompt_seen = False

    def put(self, value: Any) -> None:
        if not self.prompt_seen:  # the first call carries the prompt
            self.prompt_seen = True
            return
        self.tokens.extend(int(i) for i in value.reshape(-1).tolist() if int(i) not in self.stops)
        text = self.tokenizer.decode(self.tokens, skip_special_tokens=True)
        end = len(text)
        # an incomplete character at the end decodes as U+FFFD: wait for its last byte
        while end > self.sent and text[end - 1] == "\ufffd":
            end -= 1
        if end > self.sent:
            self.queue.put(text[self.sent : end])
            self.sent = end

    def end(self) -> None:
        text = self.tokenizer.decode(self.tokens, skip_special_tokens=True)
        if len(text) > self.sent:
            self.queue.put(text[self.sent :])
            self.sent = len(text)
        self.queue.put(None)


def inference_stream(
    model: Any,
    template: Any,
    query: str | None = None,
    history: Iterable[HistoryItem] = (),
    system: str | None = None,
    *,
    generation: Any = None,
    input_ids: Sequence[int] | None = None,
    images: Sequence[Any] | None = None,
    **options: Any,
) -> Iterator[str]:
    """Like :func:`inference`, but yields the answer's text deltas as they are generated.

    The deltas join to exactly what :func:`inference` returns for the same settings (greedy decoding).
    Generation runs in a thread; closing the iterator early stops it.
    """
    gen = generation_settings(generation, **options)
    extra: dict[str, Any] = {}
    if images:
        ids, extra = _prompt_with_images(template, query, history, system, images)
    else:
        ids = _prompt_ids(template, query, history, system, input_ids)
    return _stream(model, template, ids, gen, extra)


def _stream(model: Any, template: Any, ids: list[int], gen: Any, extra: dict[str, Any] | None = None
            ) -> Iterator[str]:
    import torch

    cancel = threading.Event()
    streamer = _DeltaStreamer(template)
    kwargs = _generate_kwargs(model, template, ids, gen, cancel, extra)
    failure: list[BaseException] = []

    def work() -> None:
        try:
            with torch.inference_mode():
                model.generate(**kwargs, streamer=streamer)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            failure.append(exc)
            streamer.queue.put(None)

    thread = threading.Thread(target=work, name="ftcore-generate", daemon=True)
    thread.start()
    stop = StopWordFilter(template.stop_words)
    try:
        while True:
            chunk = streamer.queue.get()
            if chunk is None:
                break
            out = stop.feed(chunk)
            if out:
                yield out
            if stop.stopped:
                cancel.set()
                break
        rest = stop.flush()
        if rest:
            yield rest
    finally:
        cancel.set()
        thread.join()
    if failure:
        raise failure[0]
