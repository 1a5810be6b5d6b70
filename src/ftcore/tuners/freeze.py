"""Partial full fine-tuning (``tuner.method = "freeze"``): only the last ``last_layers`` decoder blocks and the
modules named in ``modules`` train, everything else is frozen; and LLaMA-Pro block expansion
(``tuner.method = "llama-pro"``): ``new_blocks`` copies of decoder blocks are inserted, each starting as the
identity (its output projections zeroed), and only they train. Both save whole models (plain transformers loads
them; llama-pro's has more layers, written in its config)."""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ftcore.errors import FtcoreError
from ftcore.specs import TunerOptions
from ftcore.tuners.base import TrainingHooks, decoder_layers, enable_checkpointing

__all__ = ["FreezeOptions", "LlamaProOptions", "apply_freeze", "apply_llama_pro", "expand_blocks"]

#: names of the projections that write into the residual stream (zeroed in a new block: it starts as the identity)
OUTPUT_PROJECTIONS = ("o_proj", "down_proj", "c_proj", "dense", "out_proj", "w2", "dense_4h_to_h")


class FreezeOptions(TrainingHooks, BaseModel):
    """The ``[tuner]`` keys of ``freeze``."""

    model_config = ConfigDict(extra="forbid")

    last_layers: int = Field(1, ge=0, description="how many of the last decoder blocks train")
    modules: list[str] = Field(
        default_factory=list,
        description="more modules that train: full names or name components (e.g. lm_head, norm, embed_tokens)")


class LlamaProOptions(TrainingHooks, BaseModel):
    """The ``[tuner]`` keys of ``llama-pro``."""

    model_config = ConfigDict(extra="forbid")

    new_blocks: int = Field(1, ge=1, description="decoder blocks added, spread evenly (one after each group)")
    modules: list[str] = Field(default_factory=list, description="more modules that train (e.g. lm_head)")


def _matches(name: str, wanted: list[str]) -> bool:
    parts = name.split(".")
    return any(name == w or name.startswith(w + ".") or w in parts for w in wanted)


def _train_only(model: Any, trainable: list[str], modules: list[str], gradient_checkpointing: bool) -> Any:
    for name, p in model.named_parameters():
        p.requires_grad_(_matches(name, trainable) or _matches(name, modules))
    if gradient_checkpointing:
        enable_checkpointing(model, frozen_embeddings=not _matches("embed_tokens", modules))
    return model


def _check_modules(model: Any, modules: list[str]) -> None:
    names = [n for n, _ in model.named_modules() if n] + [n for n, _ in model.named_parameters()]
    missing = [m for m in modules if not any(_matches(n, [m]) for n in names)]
    if missing:
        raise FtcoreError(f"tuner.modules: {', '.join(missing)} not found in the model")


def apply_freeze(model: Any, options: TunerOptions) -> Any:
    """Freeze every parameter except the last ``last_layers`` blocks and ``modules``."""
    opts = options.method_options if isinstance(options.method_options, FreezeOptions) else FreezeOptions()
    _check_modules(model, opts.modules)
    prefix, layers = decoder_layers(model)
    if opts.last_layers > len(layers):
        raise FtcoreError(f"tuner.last_layers: the model has {len(layers)} decoder layers (got {opts.last_layers})")
    trainable = [f"{prefix}.{i}" for i in range(len(layers) - opts.last_layers, len(layers))]
    if not trainable and not opts.modules:
        raise FtcoreError("tuner.last_layers: nothing would train; set last_layers > 0 or name modules")
    return _train_only(model, trainable, opts.modules, options.gradient_checkpointing)


def expand_blocks(model: Any, new_blocks: int) -> list[int]:
    """Insert ``new_blocks`` identity copies of decoder blocks (LLaMA-Pro); returns the new blocks' indices."""
    import torch

    prefix, layers = decoder_layers(model)
    n = len(layers)
    if new_blocks > n or n % new_blocks:
        raise FtcoreError(f"tuner.new_blocks: must divide the model's {n} decoder layers (got {new_blocks})")
    group = n // new_blocks
    blocks: list[Any] = []
    added: list[int] = []
    source: list[int] = []  # the original index each block copies (its layer type)
    for i, layer in enumerate(layers):
        blocks.append(layer)
        source.append(i)
        if (i + 1) % group == 0:
            new = copy.deepcopy(layer)
            for name, module in new.named_modules():
                if name.rsplit(".", 1)[-1] in OUTPUT_PROJECTIONS and isinstance(module, torch.nn.Linear):
                    torch.nn.init.zeros_(module.weight)
                    if module.bias is not None:
                        torch.nn.init.zeros_(module.bias)
            added.append(len(blocks))
            blocks.append(new)
            source.append(i)
    for index, block in enumerate(blocks):
        for module in block.modules():
            if hasattr(module, "layer_idx"):
                module.layer_idx = index
    parent = model.get_submodule(prefix.rsplit(".", 1)[0]) if "." in prefix else model
    setattr(parent, prefix.rsplit(".", 1)[-1], torch.nn.ModuleList(blocks))
    config = getattr(model, "config", None)
    text = config.get_text_config() if config is not None and hasattr(config, "get_text_config") else config
    if text is not None:
        text.num_hidden_layers = len(blocks)
        types = getattr(text, "layer_types", None)
        if types:
            text.layer_types = [types[i] for i in source]
    return added


def apply_llama_pro(model: Any, options: TunerOptions) -> Any:
    """Expand the model with identity blocks and train only them (and ``modules``)."""
    opts = options.method_options if isinstance(options.method_options, LlamaProOptions) else LlamaProOptions()
    _check_modules(model, opts.modules)
    added = expand_blocks(model, opts.new_blocks)
    prefix, _ = decoder_layers(model)
    return _train_only(model, [f"{prefix}.{i}" for i in added], opts.modules, options.gradient_checkpointing)
