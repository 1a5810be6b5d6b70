"""The generic Hugging Face loader behind the built-in ``load_model`` hook (family plugins may reuse it).

dtype, attention implementation, quantization and remote code are decided by the pipeline and arrive in
:class:`ftcore.ModelOptions`; this module only turns them into ``from_pretrained`` arguments (transformers 5:
``dtype=``), checks the spec's requirements first, prefers safetensors, and gives the tokenizer a pad token.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from ftcore.errors import FtcoreError, MissingDependencyError
from ftcore.specs import ModelOptions, ModelSpec

TORCH_DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}


def torch_dtype(name: str) -> Any:
    """``bf16`` / ``fp16`` / ``fp32`` → the torch dtype."""
    import torch

    try:
        return getattr(torch, TORCH_DTYPES[name])
    except KeyError:
        raise FtcoreError(f"model.dtype: unknown dtype {name!r} (use bf16, fp16 or fp32)") from None


def check_requires(spec: ModelSpec) -> None:
    """Every pip requirement of the spec is met, else a one-line error with the pip command."""
    if not spec.requires:
        return
    from importlib.metadata import PackageNotFoundError, version

    from packaging.requirements import Requirement

    for text in spec.requires:
        req = Requirement(text)
        try:
            found = version(req.name)
        except PackageNotFoundError:
            found = None
        if found is None or (req.specifier and not req.specifier.contains(found, prereleases=True)):
            have = f"found {found}" if found else "not installed"
            raise FtcoreError(f"model {spec.name!r} needs {text} ({have}): pip install '{text}'")


def _attn_kwargs(attn: str | None) -> dict[str, Any]:
    if attn in (None, "auto"):
        return {}
    if attn == "flash_attention_2" and importlib.util.find_spec("flash_attn") is None:
        raise MissingDependencyError("model.attn = 'flash_attention_2'", "flash-attn --no-build-isolation")
    return {"attn_implementation": attn}


def _quantization_kwargs(options: ModelOptions) -> dict[str, Any]:
    q = options.quantization or {}
    bits = int(q.get("bits") or 0)
    if not bits:
        return {}
    if importlib.util.find_spec("bitsandbytes") is None:
        raise MissingDependencyError(f"model.quantization.bits = {bits}", "'ftcore[bnb]'")
    from transformers import BitsAndBytesConfig

    compute = q.get("compute_dtype") or "auto"
    compute_dtype = torch_dtype(options.dtype if compute == "auto" else compute)
    if bits == 8:
        return {"quantization_config": BitsAndBytesConfig(load_in_8bit=True)}
    return {
        "quantization_config": BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_compute_dtype=compute_dtype,
            bnb_4bit_quant_type=q.get("quant_type", "nf4"),
            bnb_4bit_use_double_quant=bool(q.get("double_quant", True)),
        )
    }


def load_tokenizer(model_dir: str, *, trust_remote_code: bool = False, **kwargs: Any) -> Any:
    """The tokenizer of ``model_dir`` with a pad token (the eos token when it has none)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=trust_remote_code, **kwargs)
    ensure_pad_token(tokenizer, model_dir)
    return tokenizer


def ensure_pad_token(tokenizer: Any, where: str = "") -> None:
    """Give ``tokenizer`` a pad token (eos, else unk) when it has none; a tokenizer without eos is an error."""
    tok = getattr(tokenizer, "tokenizer", tokenizer)  # a processor wraps its tokenizer
    if tok.eos_token is None:
        raise FtcoreError(f"{where or 'tokenizer'}: the tokenizer has no eos token; set one in tokenizer_config.json")
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token if tok.eos_token is not None else tok.unk_token


def _auto_class_name(spec: ModelSpec, model_dir: str) -> str:
    """The spec's auto class; an ad hoc spec (``model.path``) of an image-text model gets
    ``AutoModelForImageTextToText`` (its config.json has a ``vision_config``)."""
    if spec.auto_class != "AutoModelForCausalLM":
        return spec.auto_class
    import json

    try:
        config = json.loads(Path(model_dir, "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return spec.auto_class
    if isinstance(config, dict) and config.get("vision_config") and not config.get("auto_map"):
        return "AutoModelForImageTextToText"
    return spec.auto_class


def load_hf_model(spec: ModelSpec, options: ModelOptions) -> tuple[Any, Any]:
    """Load ``(model, tokenizer)`` from ``options.model_dir`` with transformers (model None when not wanted)."""
    check_requires(spec)
    model_dir = options.model_dir
    if not Path(model_dir, "config.json").is_file() and not Path(model_dir, "tokenizer_config.json").is_file():
        raise FtcoreError(f"model {spec.name!r}: {model_dir} holds no config.json (is it a model folder?)")
    trust = bool(options.trust_remote_code)
    tokenizer = load_tokenizer(model_dir, trust_remote_code=trust)
    if not options.load_model:
        return None, tokenizer

    import transformers

    try:
        auto_class = getattr(transformers, _auto_class_name(spec, model_dir))
    except AttributeError:
        raise FtcoreError(f"model {spec.name!r}: auto_class {spec.auto_class!r} is not in transformers") from None
    kwargs: dict[str, Any] = {"dtype": torch_dtype(options.dtype), "trust_remote_code": trust}
    if any(Path(model_dir).glob("*.safetensors")):
        kwargs["use_safetensors"] = True
    kwargs.update(_attn_kwargs(options.attn))
    kwargs.update(_quantization_kwargs(options))
    if options.device_map not in (None, "none"):
        kwargs["device_map"] = options.device_map
    if options.max_memory:
        kwargs["max_memory"] = options.max_memory
    kwargs.update(spec.loader_kwargs)
    try:
        model = auto_class.from_pretrained(model_dir, **kwargs)
    except ValueError as exc:
        text = str(exc)
        if "trust_remote_code" in text and not trust:
            raise FtcoreError(
                f"model {spec.name!r} ships its own Python code; if you trust it set model.trust_remote_code = true"
            ) from None
        raise
    tok = getattr(tokenizer, "tokenizer", tokenizer)
    if getattr(model.config, "pad_token_id", None) is None and tok.pad_token_id is not None:
        model.config.pad_token_id = tok.pad_token_id
    return model, tokenizer
