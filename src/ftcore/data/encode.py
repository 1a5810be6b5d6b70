"""Normalized rows → ``input_ids`` / ``labels`` / ``length`` (and a multimodal template's pixel inputs).

Templates are called only through :class:`ftcore.templates.TemplateProtocol` (``encode``, ``encode_batch``,
``takes_images``, ``spec``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from ftcore.data.formats import DROPPED, BadRow
from ftcore.data.maps import BATCH, map_cache_file, num_proc_for, progress_bars
from ftcore.data.normalize import INTERNAL, normalized_features
from ftcore.data.pairs import CHOSEN, LABEL, REJECTED, as_sft
from ftcore.data.report import DataReport, strict_error
from ftcore.templates.messages import SkipSample
from ftcore.templates.protocol import TemplateProtocol

log = logging.getLogger("ftcore.data")

ENCODED_COLUMNS = ("input_ids", "labels", "length")


def skip_types() -> tuple[type[BaseException], ...]:
    """The exceptions that skip one sample (counted in the report) rather than stop the run."""
    return (SkipSample, BadRow)


def encoded_features(extra: Mapping[str, Any] | None = None) -> Any:
    """The encoded columns, plus ``extra`` ones a template returns (name → datasets feature, see
    :func:`extra_features`)."""
    from datasets import Features, List, Value

    return Features({
        "input_ids": List(Value("int32")),
        "labels": List(Value("int32")),
        "length": Value("int32"),
        **dict(extra or {}),
        "_error": Value("string"),
        "_detail": Value("string"),
        "_flags": Value("int8"),
    })


#: bits of the ``_flags`` column: what happened to an encoded row (counted in the report)
TRUNCATED, SPECIAL_TEXT = 1, 2


def flag_bits(enc: Any) -> int:
    flags = getattr(enc, "flags", ())
    return (TRUNCATED if "truncated" in flags else 0) | (SPECIAL_TEXT if "special_text" in flags else 0)


#: the pixel inputs of multimodal templates, typed as the models want them
MULTIMODAL_FEATURES = {"pixel_values": ("float32", 2), "image_grid_thw": ("int64", 2)}


def _feature_of(value: Any) -> Any:
    """A datasets feature for one encoded value: nested lists of ints (int64) / floats (float32) / bools."""
    from datasets import List, Value

    depth, leaf = 0, value
    while isinstance(leaf, (list, tuple)):
        depth += 1
        if not leaf:
            break
        leaf = leaf[0]
    if hasattr(value, "tolist") and not isinstance(value, (list, tuple)):  # a tensor / array
        return _feature_of(value.tolist())
    kind = "bool" if isinstance(leaf, bool) else "int64" if isinstance(leaf, int) else \
        "float32" if isinstance(leaf, float) else "string"
    feature: Any = Value(kind)
    for _ in range(max(depth, 0)):
        feature = List(feature)
    return feature


def extra_features(template: TemplateProtocol, ds: Any) -> dict[str, Any]:
    """The extra columns the template returns beside ``input_ids`` / ``labels`` (e.g. ``pixel_values``,
    ``image_grid_thw``), found by encoding the first row with images; {} when no row has images."""
    from datasets import List, Value

    if "images" not in getattr(ds, "column_names", ()) or len(ds) == 0:
        return {}
    import pyarrow.compute as pc

    table = ds.data if ds._indices is None else ds.flatten_indices().data
    counts = pc.fill_null(pc.list_value_length(table.column("images")), 0).to_pylist()
    first = next((i for i, n in enumerate(counts) if n), None)
    if first is None:
        return {}
    known: dict[str, Any] = {}
    for name, (kind, depth) in MULTIMODAL_FEATURES.items():
        feature: Any = Value(kind)
        for _ in range(depth):
            feature = List(feature)
        known[name] = feature
    for i in [first, *(i for i, n in enumerate(counts[first + 1:], first + 1) if n)][:8]:
        enc = encode_rows(template, [table.column("messages")[i].as_py()], [table.column("images")[i].as_py()])[0]
        if isinstance(enc, BaseException):
            continue  # a skipped row says nothing; try the next one with images
        out = {key: known.get(key) or _feature_of(value) for key, value in enc.items()
               if key not in ("input_ids", "labels", "length")}
        if not out and not template.takes_images:  # Qwen-VL takes them as text: no pixel inputs
            log.warning("data: template %r takes no images; the rows' images are ignored (a multimodal template "
                        "such as qwen2-vl uses them, see docs/multimodal.md)", template.spec.name)
        return out
    return known  # every probed row was skipped: keep the usual pixel inputs


def encode_rows(template: TemplateProtocol, messages: list[Any], images: list[Any]) -> list[Any]:
    """Each conversation encoded, or the exception that skips it (SkipSample / BadRow)."""
    skip = skip_types()
    if any(m and m[-1]["role"] in (CHOSEN, REJECTED, LABEL) for m in messages):  # preference rows: SFT's view
        views = [as_sft(m) for m in messages]
        kept = [i for i, v in enumerate(views) if v is not None]
        done = encode_rows(template, [views[i] for i in kept], [images[i] for i in kept])
        out_all: list[Any] = [BadRow(DROPPED, "an undesirable (label = false) answer")] * len(messages)
        for i, enc in zip(kept, done, strict=True):
            out_all[i] = enc
        return out_all
    if not any(images):
        return list(template.encode_batch(messages))
    out: list[Any] = []
    for msgs, imgs in zip(messages, images, strict=True):
        try:
            out.append(template.encode(msgs, imgs or None))
        except skip as exc:
            out.append(exc)
    return out


def encode_batch(batch: dict[str, list[Any]], *, template: Any, extra: Sequence[str] = ()) -> dict[str, list[Any]]:
    """``extra``: the template's other outputs to keep (pixel inputs); a row without one gets an empty list."""
    out: dict[str, list[Any]] = {"input_ids": [], "labels": [], "length": [], "_error": [], "_detail": [],
                                 "_flags": []}
    for key in extra:
        out[key] = []
    for enc in encode_rows(template, batch["messages"], batch["images"]):
        if isinstance(enc, BaseException):
            for key in extra:
                out[key].append([])
            out["input_ids"].append([])
            out["labels"].append([])
            out["length"].append(0)
            out["_flags"].append(0)
            out["_error"].append(getattr(enc, "reason", None) or type(enc).__name__)
            detail = getattr(enc, "detail", None)
            out["_detail"].append(str(detail) if detail else None)
        else:
            for key in extra:
                value = enc.get(key)
                out[key].append([] if value is None else value.tolist() if hasattr(value, "tolist") else value)
            out["input_ids"].append(enc["input_ids"])
            out["labels"].append(enc["labels"])
            out["length"].append(len(enc["input_ids"]))
            out["_flags"].append(flag_bits(enc))
            out["_error"].append(None)
            out["_detail"].append(None)
    return out


def encode_dataset(ds: Any, template: Any, labels: Sequence[str], part: str, report: DataReport, *,
                   num_proc: int = 1, strict: bool = False, fingerprint: str | None = None) -> Any:
    """Normalized rows → ``input_ids`` / ``labels`` / ``length``; skipped samples are counted in ``report``."""
    extra = extra_features(template, ds)
    fn = partial(encode_batch, template=template, extra=tuple(extra))
    features = encoded_features(extra)
    features["_row"] = normalized_features()["_row"]
    features["_src"] = normalized_features()["_src"]
    with progress_bars(len(ds)):
        enc = ds.map(
            fn, batched=True, batch_size=BATCH, remove_columns=["messages", "images"], features=features,
            num_proc=num_proc_for(ds, num_proc), load_from_cache_file=False,
            new_fingerprint=fingerprint or uuid.uuid4().hex, cache_file_name=map_cache_file(fingerprint),
            desc=f"ftcore: tokenizing {part}",
        )
    table = enc.data
    errors = table.column("_error").to_pylist()
    flags = table.column("_flags").to_pylist()
    if any(flags):
        srcs = table.column("_src").to_pylist()
        for i, bits in enumerate(flags):
            if bits and errors[i] is None:
                src = report.source(labels[srcs[i]], part)
                src.truncated += bool(bits & TRUNCATED)
                src.special_text += bool(bits & SPECIAL_TEXT)
    if any(e is not None for e in errors):
        srcs = table.column("_src").to_pylist()
        rows = table.column("_row").to_pylist()
        keep = []
        for i, reason in enumerate(errors):
            if reason is None:
                keep.append(i)
                continue
            if strict:
                raise strict_error(labels[srcs[i]], rows[i], reason, table.column("_detail")[i].as_py())
            report.source(labels[srcs[i]], part).add(reason, rows[i])
        enc = enc.select(keep)
    return enc.remove_columns([*INTERNAL, "_flags"])

