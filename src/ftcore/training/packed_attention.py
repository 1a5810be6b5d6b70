"""Attention over packed rows, one sample at a time, for SDPA on the CPU.

With ``sdpa`` transformers isolates the samples of a packed row (``position_ids`` restarting at 0, no
``attention_mask``) with a (batch × 1 × length × length) block-diagonal mask: every step builds it, and the
attention kernel computes the whole row's length² scores before masking most of them away — a row of 1024
tokens holding seven samples of ~150 does about seven times the work its samples need. Flash-attention's varlen
kernel (GPU) avoids both; on the CPU ftcore registers ``"ftcore_packed_sdpa"`` with transformers'
``AttentionInterface``, which calls ``scaled_dot_product_attention`` causally on each sample's span of the row
(found from ``position_ids``), with no mask at all. Measured on the development machine (2 cores, Qwen2 shapes:
8 rows × 1024, 4 heads of 64, ~7 samples a row): forward + backward of one layer 85 ms instead of 196 ms, same
outputs within 5e-7.

Its mask function builds no mask when there is no ``attention_mask`` (packed rows, or one unpadded sample a row:
the attention is causal within each span) and transformers' SDPA mask otherwise (padded batches, generation),
which the attention function then hands to transformers' own SDPA path unchanged. ``use_packed_attention``
switches a model to it for training and back (:func:`packed_attention`), only where that is exactly the model's
own attention: a transformers-native causal LM on the CPU using ``sdpa``, with no sliding window, soft-capping or
attention sinks. ``tests/training/throughput/test_packed_attention.py`` checks logits and gradients against SDPA.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from ftcore.training.loss import unwrap_model

NAME = "ftcore_packed_sdpa"
_UNSUPPORTED_CONFIG = ("attn_logit_softcapping", "final_logit_softcapping", "attention_chunk_size")


def _spans(position_ids: Any, length: int) -> list[list[tuple[int, int]]]:
    """Per row, the (start, end) spans of its samples: a sample starts where its position id is 0."""
    starts = (position_ids == 0)
    starts[:, 0] = True
    rows = []
    for row in starts.tolist():
        cuts = [i for i, s in enumerate(row) if s] + [length]
        rows.append(list(zip(cuts[:-1], cuts[1:], strict=True)))
    return rows


def packed_sdpa_forward(module: Any, query: Any, key: Any, value: Any, attention_mask: Any, dropout: float = 0.0,
                        scaling: float | None = None, is_causal: bool | None = None, **kwargs: Any) -> tuple[Any, None]:
    """transformers' attention-function contract: query (B, heads, T, d), key / value (B, kv heads, T, d) →
    ((B, T, heads, d), None)."""
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    position_ids = kwargs.get("position_ids")
    length = query.shape[2]
    if attention_mask is not None or position_ids is None or key.shape[2] != length or length == 1 \
            or is_causal is False or not getattr(module, "is_causal", True):
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      is_causal=is_causal, **kwargs)
    position_ids = position_ids.expand(query.shape[0], -1)
    gqa = query.shape[1] != key.shape[1]
    spans = _spans(position_ids, length)
    if all(len(row) == 1 for row in spans):  # one sample a row: plain causal attention on the whole batch
        out = torch.nn.functional.scaled_dot_product_attention(query, key, value, dropout_p=dropout, scale=scaling,
                                                               is_causal=True, enable_gqa=gqa)
        return out.transpose(1, 2).contiguous(), None
    # split (not slice) the rows into spans: the backward of a split is one concatenation, where every slice's
    # backward would zero a whole (B, heads, T, d) gradient
    sizes = [e - s for row in spans for s, e in row]
    flat = [t.transpose(0, 1).reshape(1, t.shape[1], -1, t.shape[3]) for t in (query, key, value)]
    pieces = [
        torch.nn.functional.scaled_dot_product_attention(q, k, v, dropout_p=dropout, scale=scaling, is_causal=True,
                                                         enable_gqa=gqa)
        for q, k, v in zip(*(t.split(sizes, dim=2) for t in flat), strict=True)
    ]
    out = torch.cat(pieces, dim=2)  # (1, heads, B·T, d): rows one after the other
    heads, dim = query.shape[1], query.shape[3]
    out = out.view(heads, query.shape[0], length, dim).transpose(0, 1)  # (B, heads, T, d)
    return out.transpose(1, 2).contiguous(), None


def packed_sdpa_mask(*args: Any, **kwargs: Any) -> Any:
    """No mask without an ``attention_mask`` (the attention function isolates the samples); SDPA's otherwise."""
    if kwargs.get("attention_mask") is None:
        return None
    from transformers.masking_utils import sdpa_mask

    return sdpa_mask(*args, **kwargs)


def register() -> None:
    """Make ``"ftcore_packed_sdpa"`` known to transformers (idempotent)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(NAME, packed_sdpa_forward)
    AttentionMaskInterface.register(NAME, packed_sdpa_mask)


def supports_packed_attention(model: Any) -> bool:
    """Whether :data:`NAME` computes exactly the attention ``model`` computes now (see the module's text)."""
    base = unwrap_model(model)
    config = getattr(base, "config", None)
    if config is None or not type(base).__module__.startswith("transformers.models."):
        return False
    if getattr(config, "_attn_implementation", None) != "sdpa" or not getattr(config, "is_causal", True):
        return False
    if getattr(config, "vision_config", None) is not None or getattr(config, "is_encoder_decoder", False):
        return False
    if any(getattr(config, name, None) for name in _UNSUPPORTED_CONFIG):
        return False
    if any(t != "full_attention" for t in getattr(config, "layer_types", None) or ()):
        return False
    attention = [m for m in base.modules() if type(m).__name__.endswith("Attention")]
    if not attention or any(getattr(m, "sliding_window", None) or hasattr(m, "sinks") for m in attention):
        return False
    try:
        device = next(base.parameters()).device
    except StopIteration:
        return False
    return device.type == "cpu"


@contextlib.contextmanager
def packed_attention(model: Any, enabled: bool = True) -> Iterator[bool]:
    """While inside, ``model`` attends with :data:`NAME` when :func:`supports_packed_attention`; yields whether it
    does. The model's own implementation comes back on exit (it is what a saved model and inference use)."""
    base = unwrap_model(model)
    if not enabled or not supports_packed_attention(base):
        yield False
        return
    register()
    configs: list[Any] = [m.config for m in base.modules() if getattr(getattr(m, "config", None), "_attn_implementation", None)
               == "sdpa"]
    for config in configs:
        config._attn_implementation = NAME
    try:
        yield True
    finally:
        for config in configs:
            config._attn_implementation = "sdpa"
