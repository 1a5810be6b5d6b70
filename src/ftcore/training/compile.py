"""``train.compile``: torch.compile through the Trainer (``TrainingArguments.torch_compile``), with few shapes.

A compiled graph is specialised to its input shapes; a batch of a new length recompiles (tens of seconds to
minutes on a CPU). Packed rows — and padded batches — are as long as their longest row, so nearly every step would
bring a new length. With ``train.compile`` the collator pads each batch up to the smallest of a few *bucket*
lengths that holds it (``train.compile_buckets``; by default powers of two from 256 up to the packing length, and
the packing length itself), and dynamo keeps static shapes (``automatic_dynamic_shapes`` off): one graph per
bucket, compiled the first time the bucket appears, never again. The padding is at most half a row and is not
counted as tokens (tokens/s and MFU count real tokens only with padding; packed rows count every position, as
without compile).

The loss-only head (``ftcore.training.loss``) runs outside the compiled model (the head on the selected positions
has data-dependent shapes); the compiled part is the model's forward up to the decoder's last hidden state, which
with gradient checkpointing and LoRA compiles like any other module.
``tests/training/perf/test_compile.py`` counts the graphs of a tiny compiled run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from ftcore.config import RunConfig

__all__ = ["compile_arguments", "compile_buckets", "configure_dynamo", "set_buckets"]

#: the shortest default bucket
MIN_BUCKET = 256


def compile_buckets(cfg: RunConfig) -> tuple[int, ...]:
    """The batch lengths of a compiled run: ``train.compile_buckets``, else powers of two from 256 below the
    longest row (``template.max_length``, 2048 unset) and that length."""
    if cfg.train.compile_buckets:
        return tuple(sorted(set(cfg.train.compile_buckets)))
    from ftcore.data.packing import packing_length

    top = packing_length(cfg)
    out = []
    b = MIN_BUCKET
    while b < top:
        out.append(b)
        b *= 2
    return (*out, top)


def set_buckets(collator: Any, buckets: tuple[int, ...]) -> Any:
    """Make ftcore's collator (padding or packing) pad each batch to a bucket length; returns it."""
    for c in (collator, getattr(collator, "_packed", None)):
        if c is not None and hasattr(c, "bucket_lengths"):
            c.bucket_lengths = buckets
    return collator


def compile_arguments(cfg: RunConfig) -> dict[str, Any]:
    """The TrainingArguments of ``train.compile`` (none when it is off)."""
    if not cfg.train.compile:
        return {}
    return {"torch_compile": True, "torch_compile_backend": cfg.train.compile_backend}


def configure_dynamo(n_buckets: int) -> None:
    """Static shapes, and room for a graph per bucket (and a few more for graph breaks) before dynamo gives up."""
    import torch._dynamo

    config: Any = torch._dynamo.config
    config.automatic_dynamic_shapes = False
    name = "recompile_limit" if hasattr(config, "recompile_limit") else "cache_size_limit"
    setattr(config, name, max(int(getattr(config, name)), 2 * n_buckets + 4))
