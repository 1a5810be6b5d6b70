"""Loading Baichuan / Baichuan2 (remote code) with the family's fixes: :class:`ftcore.ModelLoader` subclasses
that override only the family's quirks, named in each catalog entry's ``ModelSpec.loader``.

Steps per model (:data:`ftcore_baichuan.catalog.FAMILY`, class per step in :data:`~ftcore_baichuan.catalog.LOADERS`):

* ``plain`` (baichuan-7b, baichuan-13b-chat): the remote code as is.
* ``baichuan-13b`` (Baichuan-13B-Base): its model class has no input-embedding accessor (gradient checkpointing
  and input grads need one); the class gets one returning ``model.embed_tokens``. Only when a model was loaded
  (ms-swift probed ``None`` with ``load_model=False`` and crashed).
* ``baichuan2``: the NormHead fix: the head's weight is L2-normalised per output token in fp32 and cast back
  (in training every call; in eval once, in place, on the first call, tracked by ``first_flag``).
* ``baichuan2-13b``: the remote config stores ``gradient_checkpointing`` as a one-element tuple; it becomes its
  first element; then the baichuan2 steps.
* ``baichuan2-int4``: the checkpoint's own (bitsandbytes) quantization config is used, ``model.quantization``
  is ignored; an explicit device map is honoured; the model is marked as quantized so trainers accept it;
  then the baichuan2 steps.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ftcore import ModelLoader, ModelOptions, ModelSpec


def _folder_family(model_dir: str) -> str | None:
    """An ad-hoc folder (``model.path`` / ``model.repo``) holding Baichuan weights is ours too."""
    try:
        config = json.loads(Path(model_dir, "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if config.get("model_type") != "baichuan" and not any(
        a.lower().startswith("baichuan") for a in config.get("architectures") or []
    ):
        return None
    if config.get("vocab_size") != 125696:  # Baichuan2's vocabulary
        return "plain"
    if config.get("quantization_config"):
        return "baichuan2-int4"
    return "baichuan2-13b" if config.get("hidden_size") == 5120 else "baichuan2"


def family_of(spec: ModelSpec, model_dir: str) -> str | None:
    """The loading steps for ``spec``, or None when it is not a Baichuan model."""
    from ftcore_baichuan.catalog import FAMILY

    if not spec.plugin or spec.plugin.startswith("ftcore-baichuan"):
        if spec.name in FAMILY:
            return FAMILY[spec.name]
    return _folder_family(model_dir)


class BaichuanLoader(ModelLoader):
    """Baichuan / Baichuan2 remote code as is: the config loaded with the remote code, no attention override."""

    remote_code = True
    family = "Baichuan"

    def load_config(self) -> Any:
        from transformers import AutoConfig

        return AutoConfig.from_pretrained(self.model_dir, trust_remote_code=True)

    def attention_kwargs(self) -> dict[str, Any]:
        return {}  # the remote code picks its own attention


class Baichuan13BLoader(BaichuanLoader):
    """Baichuan-13B-Base: its model class gets the input-embedding accessor it lacks."""

    def post_process(self, model: Any, tokenizer: Any) -> Any:
        add_input_embeddings_accessor(model)
        return super().post_process(model, tokenizer)


class Baichuan2Loader(BaichuanLoader):
    """Baichuan2: the fp32 NormHead."""

    def post_process(self, model: Any, tokenizer: Any) -> Any:
        patch_norm_head(model)
        return super().post_process(model, tokenizer)


class Baichuan2_13BLoader(Baichuan2Loader):  # noqa: N801 - reads as the model's name
    """Baichuan2-13B: the remote config's tuple-valued ``gradient_checkpointing`` flag fixed, then Baichuan2."""

    def load_config(self) -> Any:
        config = super().load_config()
        fix_gradient_checkpointing_flag(config)
        return config


class Baichuan2Int4Loader(Baichuan2Loader):
    """Baichuan2 4-bit: the checkpoint's own quantization config (``model.quantization`` ignored), an explicit
    device map honoured, the model marked as quantized so trainers accept it."""

    def quantization_kwargs(self) -> dict[str, Any]:
        return {}

    def load_model(self, kwargs: dict[str, Any]) -> Any:
        with _fixed_device_map(kwargs.get("device_map")):
            return super().load_model(kwargs)

    def post_process(self, model: Any, tokenizer: Any) -> Any:
        model = super().post_process(model, tokenizer)
        model.train()
        model._is_quantized_training_enabled = True
        model.is_loaded_in_4bit = True
        return model


def loader_for(family: str | None) -> type[ModelLoader] | None:
    """The loader class for a family's steps (:func:`family_of`), None when not Baichuan."""
    from ftcore_baichuan.catalog import LOADERS

    return None if family is None else globals()[LOADERS[family]]


def load_baichuan(spec: ModelSpec, options: ModelOptions) -> tuple[Any, Any] | None:
    """The ``load_model`` hook of ftcore-baichuan; None for models that are not Baichuan."""
    cls = loader_for(family_of(spec, options.model_dir))
    return None if cls is None else cls(spec, options).load()


def fix_gradient_checkpointing_flag(config: Any) -> None:
    """Baichuan2-13B's remote config writes ``gradient_checkpointing = value,`` (a tuple): keep the value."""
    value = getattr(config, "gradient_checkpointing", None)
    if isinstance(value, (tuple, list)):
        config.gradient_checkpointing = value[0] if value else False


def add_input_embeddings_accessor(model: Any) -> None:
    """Give Baichuan-13B's model class ``get_input_embeddings`` (returning the token embedding) if it lacks one."""
    try:
        model.get_input_embeddings()
        return
    except NotImplementedError:
        pass

    def get_input_embeddings(self: Any) -> Any:
        return self.model.embed_tokens

    type(model).get_input_embeddings = get_input_embeddings


def norm_head_forward(self: Any, hidden_states: Any) -> Any:
    """Baichuan2's NormHead, normalised in fp32: each output token's weight vector gets unit L2 norm."""
    import torch.nn.functional as F

    if self.training:
        norm_weight = F.normalize(self.weight.float(), dim=-1).to(self.weight.dtype)
        # the weights change while training, so the next eval call normalises them again
        self.first_flag = True
    elif getattr(self, "first_flag", True):
        self.first_flag = False
        self.weight.data = F.normalize(self.weight.float(), dim=-1).to(self.weight.dtype)
        norm_weight = self.weight
    else:
        norm_weight = self.weight
    return F.linear(hidden_states, norm_weight)


def patch_norm_head(model: Any) -> None:
    """Install the fp32 NormHead forward on ``model.lm_head`` (the instance, once)."""
    head = getattr(model, "lm_head", None)
    if head is None or getattr(head, "_ftcore_norm_head", False):
        return
    if type(head).__name__ != "NormHead":
        return  # not a Baichuan2 head (e.g. a wrapped or replaced one): leave it
    import types

    head.forward = types.MethodType(norm_head_forward, head)
    head._ftcore_norm_head = True


@contextlib.contextmanager
def _fixed_device_map(device_map: Any) -> Iterator[None]:
    """While loading a 4-bit Baichuan2, make accelerate's ``infer_auto_device_map`` return an explicit map."""
    if device_map is None or device_map == "auto":
        yield
        return
    import accelerate.utils

    original = accelerate.utils.infer_auto_device_map
    accelerate.utils.infer_auto_device_map = lambda *args, **kwargs: device_map
    try:
        yield
    finally:
        accelerate.utils.infer_auto_device_map = original
