"""Packing: encoded samples concatenated into nearly full rows, with no attention across samples.

A packed row holds several samples back to back, with no padding between them::

    input_ids     a0 a1 a2 a3 | b0 b1 b2 | c0 c1
    position_ids   0  1  2  3 |  0  1  2 |  0  1
    labels        -100 ...    | -100 ... | -100 ...   (the label at each sample's first token is always -100)

Isolation (a sample never attends to another) comes from ``position_ids`` alone, and only when the model is
called the right way. In transformers 5, ``masking_utils._preprocess_mask_arguments`` calls
``find_packed_sequence_indices(position_ids)`` — which starts a new sequence wherever consecutive position ids do
not differ by exactly 1 — **only if** the 2-D ``attention_mask`` is ``None`` **and** there is no cache. The
decoder creates a ``DynamicCache`` whenever ``use_cache`` is on (the config default, even in training), and then
the block mask is silently skipped: samples leak into each other. So a packed batch must be fed with
``position_ids``, **without** ``attention_mask`` and with ``use_cache=False``; :func:`ftcore.training.loss.causal_lm_loss`
does exactly that (and the collator below never emits an ``attention_mask``). This holds for the ``sdpa`` and
``eager`` attention implementations (and ``flex_attention``), which build a block-diagonal causal mask.

With ``flash_attention_2`` / ``flash_attention_3`` transformers takes the varlen kernel instead, deriving
``cu_seqlens`` from ``position_ids`` (``modeling_flash_attention_utils._is_packed_sequence``) — but only for a batch
of **one** row. :class:`PackedCollator` with ``flatten=True`` therefore concatenates the whole batch into a single
row (no padding at all, and no quadratic cost across samples). That path is not tested here (no GPU).

The label at each sample's first position is set to -100: after the causal shift it is the target of the previous
sample's last token, which must not learn to predict the next, unrelated sample. It also keeps the token count
the Trainer uses for ``num_items_in_batch`` (``labels[..., 1:] != -100``) equal to the number of real targets.

Rows are filled by best-fit decreasing: samples sorted longest first, each put into the open row with the least
room that still fits it. Rows end up nearly full (typically > 97 %) with a deterministic result.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ftcore.templates.messages import IGNORE_INDEX


def pack_lengths(lengths: Sequence[int], max_tokens: int) -> list[list[int]]:
    """Group sample indices into rows of at most ``max_tokens`` tokens (best-fit decreasing).

    A sample longer than ``max_tokens`` gets a row of its own (it is never cut here; the template truncates).
    Within a row, samples keep their original order; rows come back in order of their first sample.
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be positive (got {max_tokens})")
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    rows: list[list[int]] = []
    # open rows, sorted by remaining room: parallel lists (room, row id) for bisect
    rooms: list[int] = []
    ids: list[int] = []
    for i in order:
        n = lengths[i]
        if n >= max_tokens:
            rows.append([i])
            continue
        pos = bisect.bisect_left(rooms, n)
        if pos < len(rooms):  # the fullest row that still fits
            row_id = ids.pop(pos)
            room = rooms.pop(pos) - n
            rows[row_id].append(i)
        else:
            row_id = len(rows)
            rows.append([i])
            room = max_tokens - n
        if room > 0:
            pos = bisect.bisect_left(rooms, room)
            rooms.insert(pos, room)
            ids.insert(pos, row_id)
    for row in rows:
        row.sort()
    rows.sort(key=lambda r: r[0])
    return rows


def pack_samples(
    samples: Iterable[dict[str, Any]], max_tokens: int, *, groups: list[list[int]] | None = None
) -> list[dict[str, list[int]]]:
    """Concatenate encoded samples (``input_ids``, ``labels``) into packed rows.

    Each row has ``input_ids``, ``labels`` (-100 at every sample's first token) and ``position_ids``
    (restarting at 0 per sample). ``groups`` (from :func:`pack_lengths`) may be given to reuse a packing plan.
    """
    samples = list(samples)
    if groups is None:
        groups = pack_lengths([len(s["input_ids"]) for s in samples], max_tokens)
    return [concat_samples([samples[i] for i in group]) for group in groups]


def concat_samples(samples: Sequence[dict[str, Any]]) -> dict[str, list[int]]:
    """One packed row from ``samples`` (in order)."""
    input_ids: list[int] = []
    labels: list[int] = []
    position_ids: list[int] = []
    for s in samples:
        ids = list(s["input_ids"])
        if not ids:
            continue
        lab = list(s.get("labels", ids))
        if len(lab) != len(ids):
            raise ValueError(f"labels ({len(lab)}) and input_ids ({len(ids)}) differ in length")
        lab[0] = IGNORE_INDEX
        input_ids += ids
        labels += lab
        position_ids += range(len(ids))
    return {"input_ids": input_ids, "labels": labels, "position_ids": position_ids}


def pack_dataset(dataset: Any, max_tokens: int, *, seed: int | None = 42) -> Any:
    """Pack a dataset of encoded samples (a ``datasets.Dataset`` or a list of dicts) into rows.

    Returns the same kind: a ``datasets.Dataset`` with ``input_ids``, ``labels``, ``position_ids`` columns, or a
    list of dicts. Rows are shuffled with ``seed`` (None keeps the packing order) so that the long-sample rows
    are not all at the start.
    """
    is_hf = hasattr(dataset, "column_names") and hasattr(dataset, "select")
    if is_hf:
        all_ids = list(dataset["input_ids"])
        all_labels = list(dataset["labels"]) if "labels" in dataset.column_names else all_ids
        samples = [{"input_ids": i, "labels": lab} for i, lab in zip(all_ids, all_labels, strict=True)]
    else:
        samples = list(dataset)
    groups = pack_lengths([len(s["input_ids"]) for s in samples], max_tokens)
    if seed is not None:
        random.Random(seed).shuffle(groups)
    rows = pack_samples(samples, max_tokens, groups=groups)
    if not is_hf:
        return rows
    from datasets import Dataset

    return Dataset.from_list(rows)


def packing_length(cfg: Any, dataset: Any = None) -> int:
    """Tokens per packed row for a run: ``template.max_length`` (the longest a sample can be), else the longest
    sample of ``dataset``, else 2048."""
    max_length = getattr(getattr(cfg, "template", None), "max_length", None)
    if max_length is not None and max_length > 0:
        return int(max_length)
    if dataset is not None:
        try:
            return max(2048, max(len(x) for x in dataset["input_ids"]))
        except (TypeError, KeyError, ValueError):
            pass
    return 2048


#: attention implementations whose masks honour packed ``position_ids`` (see the module docstring)
PACKING_ATTENTION = ("sdpa", "eager", "flex_attention", "flash_attention_2", "flash_attention_3")


def packing_support(model: Any) -> str | None:
    """None when ``model`` isolates packed samples given ``position_ids``; else the reason it does not."""
    base = model
    for _ in range(6):  # peft / DDP wrappers
        inner = base.get_base_model() if hasattr(base, "get_base_model") else getattr(base, "module", None)
        if inner is None or inner is base:
            break
        base = inner
    module = type(base).__module__
    if not module.startswith("transformers."):
        return f"{type(base).__name__} is not a transformers-native model (remote code builds its own masks)"
    config = getattr(base, "config", None)
    if config is not None and getattr(config, "vision_config", None) is not None:
        return "multimodal models use their own position ids"
    attn = getattr(config, "_attn_implementation", None) or "sdpa"
    if attn not in PACKING_ATTENTION:
        return f"attention implementation {attn!r} does not take packed position ids"
    return None


def resolve_packing(cfg: Any, model: Any) -> bool:
    """``data.packing`` for this run: true/false as written, ``"auto"`` = on where it is safe and useful.

    auto packs when the model isolates packed samples (:func:`packing_support`) and the data is tokenized ahead
    (not ``data.lazy`` / ``data.streaming``) and ``data.group_by_length`` is off. An explicit ``true`` on a model
    that cannot isolate packed samples is an error rather than silent cross-contamination.
    """
    from ftcore.errors import FtcoreError

    value = cfg.data.packing
    reason = packing_support(model)
    if value is True:
        if reason is not None:
            raise FtcoreError(f"{getattr(cfg, 'source', 'run.toml')}: data.packing: {reason}; "
                              "set data.packing = false")
        return True
    if value is False:
        return False
    return reason is None and not (cfg.data.lazy or cfg.data.streaming or cfg.data.group_by_length)


def uses_flash_attention(model: Any) -> bool:
    """Whether the packed collator should flatten each batch into one row (flash-attention's varlen path)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    attn = getattr(getattr(base, "config", None), "_attn_implementation", None) or ""
    return attn.startswith("flash_attention")


def pack_for_training(cfg: Any, dataset: Any) -> Any:
    """``dataset`` packed when ``data.packing`` is (resolved to) true, else unchanged.

    Lazy and streamed datasets are not packed ahead (they have no columns to plan with); the packed collator
    still isolates their samples, one per row.
    """
    if dataset is None or getattr(getattr(cfg, "data", None), "packing", False) is not True:
        return dataset
    if not (hasattr(dataset, "column_names") and hasattr(dataset, "select")) and not isinstance(dataset, list):
        return dataset
    if hasattr(dataset, "column_names") and "input_ids" not in (dataset.column_names or []):
        return dataset
    return pack_dataset(dataset, packing_length(cfg, dataset), seed=getattr(cfg.data, "seed", 42))


def packing_efficiency(rows: Iterable[dict[str, Any]], max_tokens: int) -> float:
    """Real tokens / (rows × max_tokens): how full the rows are."""
    rows = list(rows)
    if not rows:
        return 1.0
    return sum(len(r["input_ids"]) for r in rows) / (len(rows) * max_tokens)


@dataclass
class PackedCollator:
    """Batches packed rows (or plain samples: each then counts as one sequence) for a causal LM.

    Emits ``input_ids``, ``labels`` and ``position_ids`` — never an ``attention_mask`` (a 2-D mask would switch off
    the packed-sequence detection, see the module docstring). Rows of a batch are right-padded to the longest;
    padding gets ``labels`` -100 and its own ``position_ids`` run (0, 1, …), so it forms a separate sequence that
    no real token attends to. ``flatten=True`` (flash-attention's varlen path) concatenates the batch into one row.
    ``pad_to_multiple_of`` rounds the padded length up; ``bucket_lengths`` (``train.compile``) pads it up to the
    smallest of a few fixed lengths, so a compiled model meets few shapes.
    """

    pad_token_id: int
    flatten: bool = False
    pad_to_multiple_of: int | None = None
    bucket_lengths: tuple[int, ...] | None = None

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        rows = []
        for f in features:
            ids = list(f["input_ids"])
            lab = list(f["labels"]) if "labels" in f else list(ids)
            if "position_ids" in f and f["position_ids"] is not None:
                pos = list(f["position_ids"])
            else:  # a plain sample: one sequence; its first label is never a target anyway
                pos = list(range(len(ids)))
            rows.append((ids, lab, pos))
        if self.flatten:
            ids = [t for r in rows for t in r[0]]
            lab = []
            for r in rows:  # a row's first label would otherwise be the previous row's last target
                lab += [IGNORE_INDEX] + r[1][1:] if r[1] else []
            pos = [p for r in rows for p in r[2]]
            rows = [(ids, lab, pos)]
        width = max(len(r[0]) for r in rows)
        if self.pad_to_multiple_of and not self.flatten:
            m = self.pad_to_multiple_of
            width = (width + m - 1) // m * m
        width = bucket_width(width, self.bucket_lengths)
        input_ids = torch.full((len(rows), width), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
        position_ids = torch.zeros((len(rows), width), dtype=torch.long)
        for k, (ids, lab, pos) in enumerate(rows):
            n = len(ids)
            input_ids[k, :n] = torch.tensor(ids, dtype=torch.long)
            labels[k, :n] = torch.tensor(lab, dtype=torch.long)
            position_ids[k, :n] = torch.tensor(pos, dtype=torch.long)
            if n < width:
                position_ids[k, n:] = torch.arange(width - n)
        return {"input_ids": input_ids, "labels": labels, "position_ids": position_ids}


def bucket_width(width: int, buckets: tuple[int, ...] | None) -> int:
    """The smallest of ``buckets`` that holds ``width`` (``width`` itself when none does or there are none)."""
    return min((b for b in buckets or () if b >= width), default=width)


def adapt_collator(collator: Any, model: Any) -> Any:
    """With flash-attention, make a packing collator flatten each batch into one row (its varlen path needs a
    batch of one; see the module docstring). Other collators come back unchanged."""
    packed = collator if isinstance(collator, PackedCollator) else getattr(collator, "_packed", None)
    if isinstance(packed, PackedCollator) and uses_flash_attention(model):
        packed.flatten = True
    return collator
