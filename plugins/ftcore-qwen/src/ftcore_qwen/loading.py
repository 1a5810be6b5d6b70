"""Loading the Qwen models the generic loader cannot handle alone (FACTS §2.4 "qwen", "qwen-vl", "qwen-gptq").

* Qwen-1 / Qwen-VL (remote code): the config's ``fp16`` / ``bf16`` / ``fp32`` flags follow the dtype,
  ``use_flash_attn`` follows ``model.attn``; the tokenizer has no eos / pad token, so eos = ``eod_id``
  (``<|endoftext|>``) and pad = eos; ``registered_causal_mask`` goes to the GPU; Qwen-VL keeps its
  ``attn_pool.attn`` and ``lm_head`` out of bitsandbytes quantization and clones the output of a p=0 embedding
  dropout (an in-place op otherwise breaks gradient checkpointing).
* GPTQ checkpoints (``int4`` / ``int8`` tags): the ``gptq`` extra must be installed (a one-line error with the
  pip command otherwise); bitsandbytes settings do not apply (the checkpoint's own quantization config is used).
* Everything else returns None: the core's built-in loader handles it.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from pathlib import Path
from typing import Any

from ftcore import FtcoreError, MissingDependencyError, ModelOptions, ModelSpec

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


def load_qwen(spec: ModelSpec, options: ModelOptions) -> tuple[Any, Any] | None:
    """The ``load_model`` hook of ftcore-qwen: Qwen-1 / Qwen-VL and GPTQ checkpoints; None for the rest."""
    family = family_of(spec, options.model_dir)
    if family is None:
        return None
    if is_gptq(spec) and options.load_model:
        check_gptq(spec)
    if family in ("qwen", "qwen-vl"):
        return load_qwen1(spec, options, vision=family == "qwen-vl")
    if is_gptq(spec):
        from ftcore.models.loading import load_hf_model

        # the checkpoint's own GPTQ quantization config applies; bitsandbytes settings do not
        return load_hf_model(spec, dataclasses.replace(options, quantization=None))
    return None


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


def load_qwen1(spec: ModelSpec, options: ModelOptions, *, vision: bool = False) -> tuple[Any, Any]:
    """Load a Qwen-1 / Qwen-VL model (remote code) and its tokenizer with the family's fixes."""
    from ftcore.models.loading import check_requires, torch_dtype

    check_requires(spec)
    if not options.trust_remote_code:
        raise FtcoreError(
            f"model {spec.name!r} runs its repo's own Python code (Qwen-1); set model.trust_remote_code = true"
        )
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir = options.model_dir
    tokenizer = fix_qwen1_tokenizer(AutoTokenizer.from_pretrained(model_dir, trust_remote_code=True))
    if not options.load_model:
        return None, tokenizer
    config = qwen1_config(model_dir, options.dtype, options.attn)
    kwargs: dict[str, Any] = {"config": config, "dtype": torch_dtype(options.dtype), "trust_remote_code": True}
    if any(Path(model_dir).glob("*.safetensors")):
        kwargs["use_safetensors"] = True
    if options.quantization and options.quantization.get("bits") and not is_gptq(spec):
        from ftcore.models import loading

        kwargs.update(loading._quantization_kwargs(options))
        q = kwargs.get("quantization_config")
        if vision and q is not None:
            # keep the vision pooling attention and the head in full precision (pytorch#58969)
            q.llm_int8_skip_modules = ["lm_head", "attn_pool.attn"]
    if options.device_map not in (None, "none"):
        kwargs["device_map"] = options.device_map
    if options.max_memory:
        kwargs["max_memory"] = options.max_memory
    kwargs.update(spec.loader_kwargs)
    model = AutoModelForCausalLM.from_pretrained(model_dir, **kwargs)
    try:  # model parallel + DDP: the causal mask buffer must live on the GPU
        import torch

        if torch.cuda.is_available():
            model.transformer.registered_causal_mask = model.transformer.registered_causal_mask.cuda()
    except AttributeError:
        pass
    if vision:
        drop = getattr(getattr(model, "transformer", None), "drop", None)
        if drop is not None and getattr(drop, "p", None) == 0:
            _clone_output(drop)
    if getattr(model.config, "pad_token_id", None) is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    if getattr(model.config, "eos_token_id", None) is None:
        model.config.eos_token_id = tokenizer.eos_token_id
    gen = getattr(model, "generation_config", None)
    if gen is not None:
        gen.pad_token_id = tokenizer.pad_token_id
        if gen.eos_token_id is None:
            gen.eos_token_id = tokenizer.eos_token_id
    return model, tokenizer
