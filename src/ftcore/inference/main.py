"""The inference entry points: ``infer`` (one answer from a checkpoint), ``infer_main`` (ms-swift's driver: queries,
validation samples, or an interactive chat) and the chat loop ``ftcore infer --chat`` runs."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import IO, Any, cast

from ftcore.errors import FtcoreError
from ftcore.inference.batch import DEFAULT_GENERATION_BATCH, generate_batch
from ftcore.inference.checkpoint import checkpoint_config, load_checkpoint, plugin_consent, resolve_checkpoint
from ftcore.inference.generate import (
    HistoryItem,
    generation_settings,
    inference,
    inference_stream,
)
from ftcore.templates.protocol import MultimodalTemplate

#: commands of the chat loop
EXIT_WORDS = ("exit", "quit")
CLEAR_WORDS = ("clear",)
#: a chat line ``/image PATH`` attaches an image to the next message (multimodal templates)
IMAGE_COMMAND = "/image"

#: the last checkpoint ``infer`` loaded, so repeated calls do not reload it: (key, loaded)
_LAST: list[tuple[tuple[str, int], tuple[Any, Any, Any, Any]]] = []


def _loaded(ckpt: str | os.PathLike[str], allow_plugins: bool = False) -> tuple[Any, Any, Any, Any]:
    path = resolve_checkpoint(ckpt)
    key = (str(path.resolve()), path.stat().st_mtime_ns)
    if _LAST and _LAST[0][0] == key:
        return _LAST[0][1]
    _LAST.clear()  # free the previous model before loading the next
    loaded = load_checkpoint(path, **plugin_consent(allow_plugins))
    _LAST.append((key, loaded))
    return loaded


def infer(
    ckpt: str | os.PathLike[str],
    query: str,
    history: Iterable[HistoryItem] = (),
    system: str | None = None,
    images: Sequence[Any] | None = None,
    allow_plugins: bool = False,
    **generation: Any,
) -> str:
    """Answer ``query`` with a trained checkpoint and return the text.

    ``images``: image paths (or PIL images) for a multimodal checkpoint (docs/multimodal.md).

    ``ckpt`` is a checkpoint folder, a run folder, ``latest:<output dir>`` or ``best:<output dir>``. The generation
    settings start from the run's ``[generation]`` section; keyword arguments (``max_new_tokens``, ``do_sample``,
    ``temperature``, ``top_k``, ``top_p``, ``repetition_penalty``) override them. The loaded checkpoint is kept for
    the next call with the same checkpoint. The run's local plugin files load only with ``allow_plugins``.
    """
    model, _tokenizer, template, cfg = _loaded(ckpt, allow_plugins)
    return inference(model, template, query, history, system, generation=cfg.generation, images=images,
                     **generation)


def _seed(seed: int | None) -> None:
    if seed is not None:
        from transformers import set_seed

        set_seed(seed)


def _say(out: IO[str], text: str = "", end: str = "\n") -> None:
    out.write(text + end)
    out.flush()


def _answer(
    model: Any,
    template: Any,
    query: str | None,
    history: Sequence[HistoryItem],
    system: str | None,
    gen: Any,
    stream: bool,
    out: IO[str],
    input_ids: Sequence[int] | None = None,
    images: Sequence[Any] | None = None,
) -> str:
    """Generate one answer, writing it to ``out`` as it comes (``stream``) or at the end."""
    if not stream:
        text = inference(model, template, query, history, system, generation=gen, input_ids=input_ids,
                         images=images)
        _say(out, text)
        return text
    parts = []
    for delta in inference_stream(
        model, template, query, history, system, generation=gen, input_ids=input_ids, images=images
    ):
        parts.append(delta)
        _say(out, delta, end="")
    _say(out)
    return "".join(parts)


def _supports_history(template: Any) -> bool:
    return bool(template.supports_multi_turn)


def _read_line() -> str:
    """The next line of stdin ('' at its end); on a terminal through input(), with line editing where available."""
    if not sys.stdin.isatty():
        return sys.stdin.readline()
    try:
        import readline  # noqa: F401 - gives input() line editing and history
    except ImportError:  # pragma: no cover - Windows
        pass
    try:
        return input() + "\n"
    except EOFError:
        return ""


def chat_loop(
    model: Any,
    template: Any,
    *,
    system: str | None = None,
    generation: Any = None,
    stream: bool = True,
    read: Callable[[], str] | None = None,
    out: IO[str] | None = None,
    images: Sequence[Any] | None = None,
) -> list[tuple[str, str]]:
    """Interactive multi-turn chat: read a line, answer it with the history so far, repeat.

    ``clear`` forgets the history, ``exit`` / ``quit`` (or end of input) leaves. A single-turn template answers
    each line on its own. ``/image PATH`` attaches an image to the next message (multimodal templates; ``images``
    are attached to the first one). Returns the history at the end.
    """
    out = out or sys.stdout
    read = read or _read_line
    gen = generation_settings(generation)
    keep = _supports_history(template)
    _say(
        out,
        "chat: 'clear' forgets the history, 'exit' leaves"
        + ("" if keep else " (this template is single-turn: each line is answered on its own)"),
    )
    history: list[tuple[str, str]] = []
    pending: list[Any] = list(images or [])
    while True:
        _say(out, "<<< ", end="")
        line = read()
        if not line:  # end of input
            _say(out)
            break
        query = line.rstrip("\r\n")
        word = query.strip().lower()
        if word in EXIT_WORDS:
            break
        if word in CLEAR_WORDS:
            history.clear()
            pending.clear()
            _say(out, "(history cleared)")
            continue
        if word == IMAGE_COMMAND or word.startswith(IMAGE_COMMAND + " "):
            path = os.path.expanduser(query.strip()[len(IMAGE_COMMAND):].strip())
            if not path or not os.path.isfile(path):
                _say(out, f"(no image file {path!r}; usage: {IMAGE_COMMAND} PATH)")
            else:
                pending.append(path)
                _say(out, f"(image {len(pending)} attached to the next message: {path})")
            continue
        if not query.strip():
            continue
        _say(out, ">>> ", end="")
        try:
            answer = _answer(model, template, query, history, system, gen, stream, out, images=pending or None)
        except FtcoreError as exc:
            if not pending:
                raise
            _say(out, f"(error: {exc})")
            pending.clear()
            continue
        if pending:  # the history keeps the text: its images are not sent again
            query = query.replace(cast(MultimodalTemplate, template).image_placeholder, "").strip()
        pending.clear()
        if keep:
            history.append((query, answer))
    return history


def _split_sample(input_ids: Sequence[int], labels: Sequence[int]) -> tuple[list[int], list[int]] | None:
    """(prompt, reference) of an encoded sample: the prompt ends where the first answer's labels start."""
    first = next((i for i, label in enumerate(labels) if label != -100), None)
    if first is None:
        return None
    end = first
    while end < len(labels) and labels[end] != -100:
        end += 1
    return list(input_ids[:first]), list(labels[first:end])


def dataset_samples(
    model: Any,
    template: Any,
    cfg: Any,
    n: int = 10,
    *,
    generation: Any = None,
    stream: bool = True,
    out: IO[str] | None = None,
    batch_size: int | None = None,
) -> list[dict[str, str]]:
    """Answer the first ``n`` validation samples of the run and show each as prompt, prediction and reference
    (ms-swift's ``show_dataset_sample``). They are generated ``batch_size`` at a time (default 8, each batch
    shown when it is done); ``batch_size = 1`` answers one by one, streamed with ``stream``. The samples are the
    run's own validation split, encoded by the same
    template (``ftcore.data.prepare_data``: a cache hit after training); the prompt is everything before the
    first answer token, the reference that answer. Returns ``{"prompt", "response", "reference"}`` records."""
    from ftcore.data import prepare_data

    out = out or sys.stdout
    gen = generation_settings(generation)
    tokenizer = template.tokenizer
    prepared = prepare_data(cfg, template, tokenizer=tokenizer)
    validation = prepared.validation
    if validation is None or len(validation) == 0:
        raise FtcoreError(
            f"{cfg.source}: the run has no validation samples (data.test_ratio = {cfg.data.test_ratio} "
            "and no data.validation); use --query or --chat"
        )
    stops = set(template.stop_token_ids) | {tokenizer.eos_token_id}
    splits = [s for s in (_split_sample(validation[i]["input_ids"], validation[i]["labels"])
                          for i in range(min(n, len(validation)))) if s is not None]
    size = batch_size or DEFAULT_GENERATION_BATCH
    records = []
    for start in range(0, len(splits), size):
        chunk = splits[start:start + size]
        answers = generate_batch(model, template, [p for p, _ in chunk], generation=gen, batch_size=size) \
            if size > 1 else [None] * len(chunk)
        for (prompt_ids, reference_ids), answer in zip(chunk, answers, strict=True):
            prompt = tokenizer.decode(prompt_ids, skip_special_tokens=False)
            reference = tokenizer.decode([t for t in reference_ids if t not in stops], skip_special_tokens=True)
            _say(out, f"[PROMPT] {prompt}")
            _say(out, "[OUTPUT] ", end="")
            if answer is None:
                prediction = _answer(model, template, None, (), None, gen, stream, out, input_ids=prompt_ids)
            else:
                prediction = answer
                _say(out, answer)
            _say(out, f"[LABELS] {reference}")
            _say(out, "-" * 80)
            records.append({"prompt": prompt, "response": prediction, "reference": reference})
    return records


def infer_main(
    ckpt: str | os.PathLike[str],
    query: str | Sequence[str] | None = None,
    *,
    chat: bool | None = None,
    dataset_sample: int | None = None,
    batch_size: int | None = None,
    system: str | None = None,
    stream: bool | None = None,
    seed: int | None = 42,
    out: IO[str] | None = None,
    read: Callable[[], str] | None = None,
    images: Sequence[Any] | None = None,
    allow_plugins: bool = False,
    **generation: Any,
) -> list[dict[str, str]]:
    """Load a checkpoint and run one of ms-swift's inference modes, printing as it goes.

    * ``query`` (a string or several): answer each on its own;
    * ``chat=True``: interactive multi-turn chat on stdin (``clear``, ``exit``);
    * otherwise: show ``dataset_sample`` validation samples with prompt, prediction and reference.

    ``None`` arguments take the run's ``[infer]`` defaults (``interactive`` for ``chat``, ``show_samples`` for
    ``dataset_sample`` — 10 as in ms-swift —, ``stream``). Generation settings start from the run's
    ``[generation]``; keyword arguments override them. Returns one record per answer: ``{"query", "response"}``, or
    ``{"prompt", "response", "reference"}`` in dataset mode.
    """
    out = out or sys.stdout
    path = resolve_checkpoint(ckpt)
    run = checkpoint_config(path)
    # bad generation options fail before the model loads
    gen = generation_settings(run.generation, **generation)
    defaults = getattr(run, "infer", None)
    if chat is None:
        chat = bool(getattr(defaults, "interactive", False)) and query is None and dataset_sample is None
    if stream is None:
        stream = bool(getattr(defaults, "stream", True))
    if dataset_sample is None:
        dataset_sample = int(getattr(defaults, "show_samples", 10))
    if images and not chat and query is None:
        raise FtcoreError("--image goes with --query or --chat (validation samples bring their own images)")
    if dataset_sample < 1 and not chat and query is None:
        raise FtcoreError(
            f"dataset_sample: must be at least 1 (got {dataset_sample}); or give a query, or chat"
        )
    model, _tokenizer, template, cfg = load_checkpoint(path, **plugin_consent(allow_plugins))
    _seed(seed)
    print(f"checkpoint: {path}", file=sys.stderr)
    if chat:
        history = chat_loop(model, template, system=system, generation=gen, stream=stream, read=read, out=out,
                            images=images)
        return [{"query": q, "response": r} for q, r in history]
    if query is not None:
        queries = [query] if isinstance(query, str) else list(query)
        records = []
        for q in queries:
            if len(queries) > 1:
                _say(out, f"[QUERY] {q}")
            answer = _answer(model, template, q, (), system, gen, stream, out, images=images)
            records.append({"query": q, "response": answer})
        return records
    return dataset_samples(
        model,
        template,
        cfg,
        dataset_sample,
        generation=gen,
        stream=stream,
        out=out,
        batch_size=batch_size,
    )
