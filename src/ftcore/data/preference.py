"""The data stage of the preference stages: the same sources, normalization, split, sample and cache as SFT, then
each pair (or KTO row) encoded with the run's template.

An encoded pair is ``prompt_ids`` (the prompt through the template, up to the answer), ``chosen_ids`` and
``rejected_ids`` (each answer + the template's turn end: exactly the tokens SFT trains on, the label span of
``template.encode``), and ``length`` (the tokens of both sequences). A KTO row is ``prompt_ids``,
``completion_ids`` and ``label``. These are the columns TRL's trainers take too.

Length: ``template.max_length`` caps each of prompt + chosen and prompt + rejected. The prompt alone is cut (its
first tokens go, ``truncation = "left"``/``"right"``: the answers are never cut); a pair whose longer answer
leaves no room for a prompt token, or any over-long pair with ``truncation = "drop"``, is skipped and reported as
"too long after truncating the prompt" with its row number.
"""

from __future__ import annotations

import logging
import uuid
from functools import partial
from typing import Any

from ftcore.data.cache import cache_key, prepare_cached
from ftcore.data.encode import TRUNCATED, skip_types
from ftcore.data.formats import EMPTY_RESPONSE, BadRow
from ftcore.data.maps import BATCH, fingerprint_of, map_cache_file, num_proc_for, progress_bars
from ftcore.data.mixing import normalize_sources
from ftcore.data.normalize import INTERNAL, normalized_features
from ftcore.data.pairs import TOO_LONG, split_kto, split_pair
from ftcore.data.report import DataReport, PreparedData, strict_error
from ftcore.data.sources import load_sources
from ftcore.errors import FtcoreError
from ftcore.templates.messages import IGNORE_INDEX

log = logging.getLogger("ftcore.data")

#: bumped when the encoded form of pairs changes (part of the cache key)
PAIR_ENCODING = 1
#: the columns of an encoded pair / KTO row
PAIR_COLUMNS = ("prompt_ids", "chosen_ids", "rejected_ids", "length")
KTO_COLUMNS = ("prompt_ids", "completion_ids", "label", "length")


def answer_split(enc: Any) -> tuple[list[int], list[int]]:
    """(prompt ids, answer ids) of an encoded conversation: the answer is the label span of its last turn (answer
    + turn end), the prompt everything before it."""
    ids, labels = list(enc["input_ids"]), list(enc["labels"])
    marked = [i for i, lab in enumerate(labels) if lab != IGNORE_INDEX]
    if not marked:
        raise BadRow(EMPTY_RESPONSE, "the answer encodes to no tokens")
    return ids[: marked[0]], ids[marked[0]: marked[-1] + 1]


def fit_prompt(prompt: list[int], answers: list[list[int]], max_length: int | None, truncation: str
               ) -> tuple[list[int], bool]:
    """The prompt cut (its first tokens) so that prompt + the longest answer fits ``max_length``."""
    longest = max(len(a) for a in answers)
    if not max_length or len(prompt) + longest <= max_length:
        return prompt, False
    keep = max_length - longest
    if keep < 1 or truncation == "drop":
        raise BadRow(TOO_LONG, f"{len(prompt)} prompt + {longest} answer tokens > max_length {max_length}")
    return prompt[-keep:], True


def encode_pair(template: Any, messages: list[Any], max_length: int | None = None, truncation: str = "left"
                ) -> dict[str, Any]:
    """One carried pair row → ``prompt_ids``, ``chosen_ids``, ``rejected_ids``, ``length``, ``truncated``."""
    prompt, chosen, rejected = split_pair(messages)
    p_c, a_c = answer_split(template.encode([*prompt, {"role": "assistant", "content": chosen}]))
    p_r, a_r = answer_split(template.encode([*prompt, {"role": "assistant", "content": rejected}]))
    if p_c != p_r:  # a template whose prompt depends on the answer: keep the common part
        n = next((i for i, (a, b) in enumerate(zip(p_c, p_r, strict=False)) if a != b), min(len(p_c), len(p_r)))
        p_c, a_c, a_r = p_c[:n], p_c[n:] + a_c, p_r[n:] + a_r
    p_c, cut = fit_prompt(p_c, [a_c, a_r], max_length, truncation)
    return {"prompt_ids": p_c, "chosen_ids": a_c, "rejected_ids": a_r,
            "length": 2 * len(p_c) + len(a_c) + len(a_r), "truncated": cut}


def encode_kto(template: Any, messages: list[Any], max_length: int | None = None, truncation: str = "left"
               ) -> dict[str, Any]:
    """One carried KTO row → ``prompt_ids``, ``completion_ids``, ``label``, ``length``, ``truncated``."""
    msgs, label = split_kto(messages)
    prompt, answer = answer_split(template.encode(msgs))
    prompt, cut = fit_prompt(prompt, [answer], max_length, truncation)
    return {"prompt_ids": prompt, "completion_ids": answer, "label": label, "length": len(prompt) + len(answer),
            "truncated": cut}


def _features(kind: str) -> Any:
    from datasets import Features, List, Value

    ids = List(Value("int32"))
    cols = {"prompt_ids": ids, "chosen_ids": ids, "rejected_ids": ids} if kind == "pair" else \
        {"prompt_ids": ids, "completion_ids": ids, "label": Value("bool")}
    return Features({**cols, "length": Value("int32"), "_error": Value("string"), "_detail": Value("string"),
                     "_flags": Value("int8"), "_row": normalized_features()["_row"],
                     "_src": normalized_features()["_src"]})


def _encode_batch(batch: dict[str, list[Any]], *, template: Any, kind: str, max_length: int | None,
                  truncation: str) -> dict[str, list[Any]]:
    columns = PAIR_COLUMNS if kind == "pair" else KTO_COLUMNS
    out: dict[str, list[Any]] = {c: [] for c in (*columns, "_error", "_detail", "_flags")}
    encode = encode_pair if kind == "pair" else encode_kto
    for messages in batch["messages"]:
        try:
            enc = encode(template, messages, max_length, truncation)
        except skip_types() as exc:
            for c in columns:
                out[c].append(False if c == "label" else 0 if c == "length" else [])
            out["_flags"].append(0)
            out["_error"].append(getattr(exc, "reason", None) or type(exc).__name__)
            detail = getattr(exc, "detail", None)
            out["_detail"].append(str(detail) if detail else None)
            continue
        for c in columns:
            out[c].append(enc[c])
        out["_flags"].append(TRUNCATED if enc["truncated"] else 0)
        out["_error"].append(None)
        out["_detail"].append(None)
    return out


def encode_preference(ds: Any, template: Any, labels: list[str], part: str, report: DataReport, *, kind: str,
                      max_length: int | None, truncation: str = "left", num_proc: int = 1, strict: bool = False,
                      fingerprint: str | None = None) -> Any:
    """Carried pair (or KTO) rows → their encoded columns; bad rows counted in ``report`` by reason and row."""
    fn = partial(_encode_batch, template=template, kind=kind, max_length=max_length, truncation=truncation)
    with progress_bars(len(ds)):
        enc = ds.map(fn, batched=True, batch_size=BATCH, remove_columns=["messages", "images"],
                     features=_features(kind), num_proc=num_proc_for(ds, num_proc), load_from_cache_file=False,
                     new_fingerprint=fingerprint or uuid.uuid4().hex, cache_file_name=map_cache_file(fingerprint),
                     desc=f"ftcore: tokenizing {part} {'pairs' if kind == 'pair' else 'rows'}")
    table = enc.data
    errors, flags = table.column("_error").to_pylist(), table.column("_flags").to_pylist()
    srcs, rows = table.column("_src").to_pylist(), table.column("_row").to_pylist()
    keep = []
    for i, reason in enumerate(errors):
        if reason is None:
            keep.append(i)
            if flags[i]:
                report.source(labels[srcs[i]], part).truncated += 1
            continue
        if strict:
            raise strict_error(labels[srcs[i]], rows[i], reason, table.column("_detail")[i].as_py())
        report.source(labels[srcs[i]], part).add(reason, rows[i])
    if len(keep) < len(errors):
        enc = enc.select(keep)
    return enc.remove_columns([*INTERNAL, "_flags"])


def prepare_preference_data(cfg: Any, template: Any, tokenizer: Any = None, *, kind: str = "pair") -> PreparedData:
    """The run's encoded pairs (``kind = "pair"``) or KTO rows (``"kto"``), cached like SFT's encoded sets.

    ``template`` should be built without ``max_length`` (the prompt-only truncation here uses
    ``cfg.template.max_length``)."""
    if cfg.data.lazy or cfg.data.streaming:
        raise FtcoreError(f"{cfg.source}: data.{'lazy' if cfg.data.lazy else 'streaming'}: the preference "
                          "stages tokenize their pairs ahead of training; set it to false")
    data = cfg.data
    max_length = cfg.template.max_length if (cfg.template.max_length or 0) > 0 else None
    loaded = load_sources(data, cfg.base_dir)
    key = cache_key(loaded, data, template, tokenizer if tokenizer is not None else template.tokenizer)
    if key:
        key = fingerprint_of(key, kind, max_length, cfg.template.truncation, PAIR_ENCODING)

    def encode() -> tuple[Any, Any, DataReport]:
        report = DataReport()
        train, val = normalize_sources(loaded, data, report, key)
        enc = partial(encode_preference, template=template, labels=loaded.labels, report=report, kind=kind,
                      max_length=max_length, truncation=cfg.template.truncation, num_proc=data.num_proc,
                      strict=data.strict)
        train = enc(train, part="train", fingerprint=fingerprint_of(key, "pairs-train") if key else None)
        if val is not None:
            val = enc(val, part="validation", fingerprint=fingerprint_of(key, "pairs-val") if key else None)
            val = val if len(val) else None
        report.check_usable()
        if len(train) == 0:
            raise FtcoreError(f"data: no usable {'pairs' if kind == 'pair' else 'rows'} in "
                              f"{', '.join(loaded.labels)}")
        report.log()
        return train, val, report

    return prepare_cached(cfg, loaded, key, encode, {"kind": kind})
