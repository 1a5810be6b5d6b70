"""Loading Baichuan / Baichuan2 (remote code) with the family's fixes (FACTS §2.4, intended behaviour).

Steps per model (:data:`ftcore_baichuan.catalog.FAMILY`):

* ``plain`` (baichuan-7b, baichuan-13b-chat): the remote code as is.
* ``baichuan-13b`` (Baichuan-13B-Base): its model class has no input-embedding accessor (gradient checkpointing
  and input grads need one); the class gets one returning ``model.embed_tokens``. Only when a model was loaded
  (the seed probed ``None`` with ``load_model=False`` and crashed).
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

from ftcore import FtcoreError, ModelOptions, ModelSpec


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


def load_baichuan(spec: ModelSpec, options: ModelOptions) -> tuple[Any, Any] | None:
    """The ``load_model`` hook of ftcore-baichuan; None for models that are not Baichuan."""
    family = family_of(spec, options.model_dir)
    if family is None:
        return None
    from ftcore.models.loading import check_requires, ensure_pad_token, torch_dtype

    check_requires(spec)
    if not options.trust_remote_code:
        raise FtcoreError(
            f"model {spec.name!r} runs its repo's own Python code (Baichuan); set model.trust_remote_code = true"
        )
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    model_dir = options.model_dir
    tokenizer = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=True)
    ensure_pad_token(tokenizer, model_dir)
    if not options.load_model:
        return None, tokenizer

    config = AutoConfig.from_pretrained(model_dir, trust_remote_code=True)
    if family == "baichuan2-13b":
        fix_gradient_checkpointing_flag(config)
    kwargs: dict[str, Any] = {"config": config, "dtype": torch_dtype(options.dtype), "trust_remote_code": True}
    if any(Path(model_dir).glob("*.safetensors")):
        kwargs["use_safetensors"] = True
    if options.quantization and options.quantization.get("bits") and family != "baichuan2-int4":
        from ftcore.models import loading

        kwargs.update(loading._quantization_kwargs(options))
    device_map = options.device_map if options.device_map not in (None, "none") else None
    if device_map is not None:
        kwargs["device_map"] = device_map
    if options.max_memory:
        kwargs["max_memory"] = options.max_memory
    kwargs.update(spec.loader_kwargs)
    with _fixed_device_map(device_map if family == "baichuan2-int4" else None):
        model = AutoModelForCausalLM.from_pretrained(model_dir, **kwargs)

    if family == "baichuan-13b":
        add_input_embeddings_accessor(model)
    if family.startswith("baichuan2"):
        patch_norm_head(model)
    if family == "baichuan2-int4":
        model.train()
        model._is_quantized_training_enabled = True
        model.is_loaded_in_4bit = True
    tok = getattr(tokenizer, "tokenizer", tokenizer)
    if getattr(model.config, "pad_token_id", None) is None:
        model.config.pad_token_id = tok.pad_token_id
    return model, tokenizer


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
