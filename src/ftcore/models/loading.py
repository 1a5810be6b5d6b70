"""The public, step-wise model loader: :class:`ModelLoader`, behind the built-in ``load_model`` hook.

dtype, attention implementation, quantization and remote code are decided by the caller and arrive in
:class:`ftcore.ModelOptions`; the loader turns them into ``from_pretrained`` arguments (transformers 5:
``dtype=``), checks the spec's requirements first, prefers safetensors, and gives the tokenizer a pad token.
A family plugin subclasses :class:`ModelLoader`, overrides only the steps its family does differently (calling
``super()`` for the rest, as ms-swift's per-family loaders do) and names the class in ``ModelSpec.loader``.

This module imports nothing heavy at import time; torch / transformers load inside the steps.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Any

from ftcore.errors import FtcoreError, MissingDependencyError
from ftcore.specs import ModelOptions, ModelSpec

__all__ = [
    "ModelLoader",
    "check_requires",
    "ensure_pad_token",
    "load_hf_model",
    "load_tokenizer",
    "loader_class",
    "torch_dtype",
]

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


class ModelLoader:
    """Load ``(model, tokenizer)`` for one spec in named, overridable steps.

    ``ModelLoader(spec, options).load()`` (or calling the instance) runs, in order:

    1. :meth:`check` — the spec's pip requirements, a model folder, remote code allowed when :attr:`remote_code`;
    2. :meth:`load_tokenizer` — ``AutoTokenizer`` with a pad token (:func:`ensure_pad_token`);
       with ``options.load_model`` False the result is ``(None, tokenizer)`` here;
    3. :meth:`load_config` — None (``from_pretrained`` reads config.json) or a config object passed as ``config=``;
    4. :meth:`from_pretrained_kwargs` — dtype (:meth:`dtype_kwargs`), attention (:meth:`attention_kwargs`),
       quantization (:meth:`quantization_kwargs`), device map / memory (:meth:`device_kwargs`), safetensors,
       ``trust_remote_code``, then ``spec.loader_kwargs`` on top;
    5. :meth:`load_model` — ``model_class().from_pretrained(model_dir, **kwargs)``;
    6. :meth:`post_process` — ``model.config.pad_token_id`` from the tokenizer; returns the model.

    A family overrides one or two steps and calls ``super()`` for the rest.
    """

    #: the family's checkpoints run their repo's own Python code: :meth:`check` refuses to load them unless the
    #: user set ``model.trust_remote_code`` (so does a spec with ``trust_remote_code``), and ``trust_remote_code=True``
    #: is passed to transformers
    remote_code: bool = False
    #: the family named in the one-line error of :attr:`remote_code` (``"Qwen-1"``; default: the spec's name)
    family: str = ""

    def __init__(self, spec: ModelSpec, options: ModelOptions) -> None:
        self.spec = spec
        self.options = options

    @property
    def model_dir(self) -> str:
        return self.options.model_dir

    @property
    def trust_remote_code(self) -> bool:
        return True if self.remote_code else bool(self.options.trust_remote_code)

    # ---------------------------------------------------------------------------------------------- steps

    def check(self) -> None:
        """Raise a one-line :class:`FtcoreError` when the model cannot load here (before anything heavy)."""
        check_requires(self.spec)
        model_dir = self.model_dir
        if not Path(model_dir, "config.json").is_file() and not Path(model_dir, "tokenizer_config.json").is_file():
            raise FtcoreError(f"model {self.spec.name!r}: {model_dir} holds no config.json (is it a model folder?)")
        if (self.remote_code or self.spec.trust_remote_code) and not self.options.trust_remote_code:
            family = f" ({self.family})" if self.family else ""
            raise FtcoreError(
                f"model {self.spec.name!r} runs its repo's own Python code{family} from {model_dir}; "
                "set model.trust_remote_code = true (or pass --trust-remote-code) if you trust that folder"
            )

    def load_tokenizer(self) -> Any:
        """The tokenizer (or processor), with a pad token."""
        return load_tokenizer(self.model_dir, trust_remote_code=self.trust_remote_code)

    def load_config(self) -> Any | None:
        """The model config to load with, or None to let ``from_pretrained`` read config.json itself."""
        return None

    def model_class(self) -> Any:
        """The transformers Auto class (``spec.auto_class``; an ad hoc image-text folder gets
        ``AutoModelForImageTextToText``)."""
        import transformers

        name = _auto_class_name(self.spec, self.model_dir)
        try:
            return getattr(transformers, name)
        except AttributeError:
            raise FtcoreError(
                f"model {self.spec.name!r}: auto_class {self.spec.auto_class!r} is not in transformers"
            ) from None

    def dtype_kwargs(self) -> dict[str, Any]:
        return {"dtype": torch_dtype(self.options.dtype)}

    def attention_kwargs(self) -> dict[str, Any]:
        """``attn_implementation`` from ``model.attn`` (none for ``auto``); flash-attn must be installed."""
        attn = self.options.attn
        if attn in (None, "auto"):
            return {}
        if attn == "flash_attention_2" and importlib.util.find_spec("flash_attn") is None:
            raise MissingDependencyError("model.attn = 'flash_attention_2'", "flash-attn --no-build-isolation")
        return {"attn_implementation": attn}

    def quantization_kwargs(self) -> dict[str, Any]:
        """bitsandbytes ``quantization_config`` from ``model.quantization`` (none when ``bits`` is 0)."""
        q = self.options.quantization or {}
        bits = int(q.get("bits") or 0)
        if not bits:
            return {}
        if importlib.util.find_spec("bitsandbytes") is None:
            raise MissingDependencyError(f"model.quantization.bits = {bits}", "'ftcore[bnb]'")
        from transformers import BitsAndBytesConfig

        compute = q.get("compute_dtype") or "auto"
        compute_dtype = torch_dtype(self.options.dtype if compute == "auto" else compute)
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

    def device_kwargs(self) -> dict[str, Any]:
        """``device_map`` / ``max_memory`` as this process loads with (decided by the caller)."""
        out: dict[str, Any] = {}
        if self.options.device_map not in (None, "none"):
            out["device_map"] = self.options.device_map
        if self.options.max_memory:
            out["max_memory"] = self.options.max_memory
        return out

    def from_pretrained_kwargs(self, config: Any | None = None) -> dict[str, Any]:
        """Every keyword ``from_pretrained`` gets; ``spec.loader_kwargs`` go last and win."""
        kwargs: dict[str, Any] = {**self.dtype_kwargs(), "trust_remote_code": self.trust_remote_code}
        if config is not None:
            kwargs["config"] = config
        if any(Path(self.model_dir).glob("*.safetensors")):
            kwargs["use_safetensors"] = True
        kwargs.update(self.attention_kwargs())
        kwargs.update(self.quantization_kwargs())
        kwargs.update(self.device_kwargs())
        kwargs.update(self.spec.loader_kwargs)
        return kwargs

    def load_model(self, kwargs: dict[str, Any]) -> Any:
        """The model, from ``model_dir`` with ``kwargs``; a refused remote-code model is a one-line error."""
        try:
            return self.model_class().from_pretrained(self.model_dir, **kwargs)
        except ValueError as exc:
            if "trust_remote_code" in str(exc) and not kwargs.get("trust_remote_code"):
                raise FtcoreError(
                    f"model {self.spec.name!r} ships its own Python code; if you trust it set "
                    "model.trust_remote_code = true"
                ) from None
            raise

    def post_process(self, model: Any, tokenizer: Any) -> Any:
        """Fix-ups after loading; the base gives ``model.config`` the tokenizer's pad token id. Returns the model."""
        tok = getattr(tokenizer, "tokenizer", tokenizer)
        if getattr(model.config, "pad_token_id", None) is None and tok.pad_token_id is not None:
            model.config.pad_token_id = tok.pad_token_id
        return model

    # ---------------------------------------------------------------------------------------------- run

    def load(self) -> tuple[Any, Any]:
        """Run the steps in order: ``(model, tokenizer)``; model None when ``options.load_model`` is False."""
        self.check()
        tokenizer = self.load_tokenizer()
        if not self.options.load_model:
            return None, tokenizer
        config = self.load_config()
        model = self.load_model(self.from_pretrained_kwargs(config))
        return self.post_process(model, tokenizer), tokenizer

    __call__ = load


def loader_class(loader: type[ModelLoader] | str) -> type[ModelLoader]:
    """``ModelSpec.loader`` as a class: a :class:`ModelLoader` subclass as is, a ``"module:Class"`` string
    imported now (specs name it as a string so that declaring them imports nothing heavy)."""
    if isinstance(loader, str):
        module_name, _, attr = loader.partition(":")
        try:
            value = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise FtcoreError(f"model loader {loader!r} cannot be imported: {exc}") from None
    else:
        value = loader
    if not (isinstance(value, type) and issubclass(value, ModelLoader)):
        raise FtcoreError(f"model loader {loader!r} is not a subclass of ftcore.ModelLoader")
    return value


def load_hf_model(spec: ModelSpec, options: ModelOptions) -> tuple[Any, Any]:
    """Load ``(model, tokenizer)`` with the generic :class:`ModelLoader` (model None when not wanted)."""
    return ModelLoader(spec, options).load()
