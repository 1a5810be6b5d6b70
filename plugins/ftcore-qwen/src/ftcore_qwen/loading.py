"""Loading the Qwen models the generic loader cannot handle alone (ms-swift's "qwen", "qwen-vl", "qwen-gptq"):
:class:`ftcore.ModelLoader` subclasses that override only the family's quirks, named in the catalog's
``ModelSpec.loader``.

* Qwen-1 / Qwen-VL (remote code): the config's ``fp16`` / ``bf16`` / ``fp32`` flags follow the dtype,
  ``use_flash_attn`` follows ``model.attn``; the tokenizer has no eos / pad token, so eos = ``eod_id``
  (``<|endoftext|>``) and pad = eos; ``registered_causal_mask`` goes to the GPU; Qwen-VL keeps its
  ``attn_pool.attn`` and ``lm_head`` out of bitsandbytes quantization and clones the output of a p=0 embedding
  dropout (an in-place op otherwise breaks gradient checkpointing).
* GPTQ checkpoints (``int4`` / ``int8`` tags): the ``gptq`` extra must be installed (a one-line error with the
  pip command otherwise); bitsandbytes settings do not apply (the checkpoint's own quantization config is used).
* Everything else: the core's :class:`ftcore.ModelLoader` as is.

The ``load_model`` hook (:func:`load_qwen`) picks the same classes for ad-hoc folders (``model.path`` holding
Qwen-1 weights) and for catalog specs called through the hook directly.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from ftcore import FtcoreError, MissingDependencyError, ModelLoader, ModelOptions, ModelSpec

#: packages a GPTQ checkpoint needs at load time (the core's ``gptq`` extra)
GPTQ_MODULES = ("optimum", "gptqmodel")
GPTQ_PIP = "'ftcore-qwen[gptq]'"


def _registered_arch(spec: ModelSpec) -> str | None:
    from ftcore_qwen.catalog import ARCH

    if spec.plugin and not spec.plugin.startswith("ftcore-qwen"):
        return None  # another plugin's model that happens to share a name pattern
    return ARCH.get(spec.name)


def _folder_arch(model_dir: str) -> str | None:
    """An ad-hoc folder (``model.path`` / ``model.repo``) holding Qwen-1 / Qwen-VL weights is ours too."""
    try:
        config = json.loads(Path(model_dir, "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if config.get("model_type") != "qwen":
        return None
    return "qwen-vl" if config.get("visual") else "qwen"


def family_of(spec: ModelSpec, model_dir: str) -> str | None:
    """``qwen`` / ``qwen-vl`` (remote code), a transformers model type, or None when the spec is not ours."""
    return _registered_arch(spec) or _folder_arch(model_dir)


def is_gptq(spec: ModelSpec) -> bool:
    return "gptq" in spec.tags


def check_gptq(spec: ModelSpec) -> None:
    """The GPTQ packages are installed, else :class:`MissingDependencyError` naming the pip command."""
    missing = [m for m in GPTQ_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        bits = "int8" if "int8" in spec.tags else "int4"
        raise MissingDependencyError(
            f"model {spec.name!r} (a GPTQ {bits} checkpoint; {', '.join(missing)} not installed)", GPTQ_PIP
        )


def fix_qwen1_tokenizer(tokenizer: Any) -> Any:
    """Qwen-1's tokenizer has no eos / pad token: eos = ``<|endoftext|>`` (``eod_id``), pad = eos."""
    if getattr(tokenizer, "eos_token_id", None) is None:
        eod_id = getattr(tokenizer, "eod_id", None)
        if eod_id is None:
            raise FtcoreError("Qwen-1 tokenizer: it has neither an eos token nor eod_id; is this a Qwen-1 folder?")
        tokenizer.eos_token_id = eod_id
    if getattr(tokenizer, "pad_token_id", None) is None:
        tokenizer.pad_token_id = tokenizer.eos_token_id
    return tokenizer


def qwen1_config(model_dir: str, dtype: str, attn: str | None) -> Any:
    """Qwen-1's config with exactly one of fp16 / bf16 / fp32 set and ``use_flash_attn`` from ``model.attn``."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model_dir, trust_remote_code=True)
    for flag in ("fp16", "bf16", "fp32"):
        setattr(config, flag, flag == dtype)
    config.use_flash_attn = {"flash_attention_2": True, "sdpa": False, "eager": False}.get(attn or "auto", "auto")
    return config


def _clone_output(module: Any) -> None:
    """Make ``module`` return a clone of its output (once): Qwen-VL's p=0 dropout returns its input itself."""
    if getattr(module, "_ftcore_clone_output", False):
        return
    forward = module.forward

    def forward_clone(*args: Any, **kwargs: Any) -> Any:
        return forward(*args, **kwargs).clone()

    module.forward = forward_clone
    module._ftcore_clone_output = True


class QwenGPTQLoader(ModelLoader):
    """A GPTQ checkpoint: the ``gptq`` extra must be installed; the checkpoint's own quantization config applies,
    so bitsandbytes settings (``model.quantization``) do not."""

    def check(self) -> None:
        if self.options.load_model:
            check_gptq(self.spec)
        super().check()

    def quantization_kwargs(self) -> dict[str, Any]:
        return {}


class Qwen1Loader(ModelLoader):
    """Qwen-1 (remote code): the tokenizer's eos / pad fix, the config's dtype / flash-attention flags, the causal
    mask buffer on the GPU, and pad / eos ids on the model and generation configs."""

    remote_code = True
    family = "Qwen-1"

    def load_tokenizer(self) -> Any:
        from transformers import AutoTokenizer

        return fix_qwen1_tokenizer(AutoTokenizer.from_pretrained(self.model_dir, trust_remote_code=True))

    def load_config(self) -> Any:
        return qwen1_config(self.model_dir, self.options.dtype, self.options.attn)

    def attention_kwargs(self) -> dict[str, Any]:
        return {}  # Qwen-1's remote code reads use_flash_attn from its config (load_config)

    def post_process(self, model: Any, tokenizer: Any) -> Any:
        try:  # model parallel + DDP: the causal mask buffer must live on the GPU
            import torch

            if torch.cuda.is_available():
                model.transformer.registered_causal_mask = model.transformer.registered_causal_mask.cuda()
        except AttributeError:
            pass
        model = super().post_process(model, tokenizer)
        if getattr(model.config, "eos_token_id", None) is None:
            model.config.eos_token_id = tokenizer.eos_token_id
        gen = getattr(model, "generation_config", None)
        if gen is not None:
            gen.pad_token_id = tokenizer.pad_token_id
            if gen.eos_token_id is None:
                gen.eos_token_id = tokenizer.eos_token_id
        return model


class QwenVLLoader(Qwen1Loader):
    """Qwen-VL: Qwen-1 plus the vision pooling attention and the head kept out of bitsandbytes quantization, and
    the p=0 embedding dropout returning a clone (its in-place output breaks gradient checkpointing)."""

    def quantization_kwargs(self) -> dict[str, Any]:
        kwargs = super().quantization_kwargs()
        q = kwargs.get("quantization_config")
        if q is not None:
            # keep the vision pooling attention and the head in full precision (pytorch#58969)
            q.llm_int8_skip_modules = ["lm_head", "attn_pool.attn"]
        return kwargs

    def post_process(self, model: Any, tokenizer: Any) -> Any:
        model = super().post_process(model, tokenizer)
        drop = getattr(getattr(model, "transformer", None), "drop", None)
        if drop is not None and getattr(drop, "p", None) == 0:
            _clone_output(drop)
        return model


class Qwen1GPTQLoader(QwenGPTQLoader, Qwen1Loader):
    """A Qwen-1 GPTQ checkpoint (``qwen-7b-chat-int4`` …)."""


class QwenVLGPTQLoader(QwenGPTQLoader, QwenVLLoader):
    """A Qwen-VL GPTQ checkpoint (``qwen-vl-chat-int4``)."""


_LOADERS: dict[tuple[str, bool], type[ModelLoader]] = {
    ("qwen", False): Qwen1Loader,
    ("qwen", True): Qwen1GPTQLoader,
    ("qwen-vl", False): QwenVLLoader,
    ("qwen-vl", True): QwenVLGPTQLoader,
}


def loader_for(family: str | None, gptq: bool) -> type[ModelLoader] | None:
    """The loader class for a family (:func:`family_of`) and GPTQ-ness; None when the core's own loader fits."""
    if family is None:
        return None
    if family in ("qwen", "qwen-vl"):
        return _LOADERS[(family, gptq)]
    return QwenGPTQLoader if gptq else None


def load_qwen(spec: ModelSpec, options: ModelOptions) -> tuple[Any, Any] | None:
    """The ``load_model`` hook of ftcore-qwen: Qwen-1 / Qwen-VL and GPTQ checkpoints; None for the rest."""
    cls = loader_for(family_of(spec, options.model_dir), is_gptq(spec))
    return None if cls is None else cls(spec, options).load()
