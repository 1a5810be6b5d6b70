"""Loading ChatGLM2 / ChatGLM3 (remote code): :class:`ChatGLMLoader`, the :class:`ftcore.ModelLoader` subclass named
in their catalog entries' ``ModelSpec.loader`` (GLM-4 loads with the core's generic loader).

ms-swift's "chatglm2" loading steps, kept:

* under 8/4-bit quantization (``model.quantization.bits``) the head ``output_layer`` stays unquantized
  (bitsandbytes' ``llm_int8_skip_modules = ["output_layer"]``);
* after loading, ``torch.nn.CrossEntropyLoss`` moves the target to the logits' device before computing the loss:
  the remote code computes its loss with labels left where they were, which fails when the model is split over
  devices (``device_map``). It is a process-wide patch, as in ms-swift; ftcore installs it once (ms-swift wrapped
  it again on every load).

Plus what the generic loader cannot know: ``trust_remote_code`` is required (a one-line error naming the key), and
the remote code picks its own attention. The ``load_model`` hook (:func:`load_chatglm`) applies the class to ad-hoc
folders (``model.path`` / ``model.repo``) whose config.json says ``chatglm``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ftcore import ModelLoader, ModelOptions, ModelSpec

#: the modules kept out of bitsandbytes quantization (ChatGLM's head)
SKIP_QUANTIZATION = ["output_layer"]


class ChatGLMLoader(ModelLoader):
    """ChatGLM2 / ChatGLM3 remote code: the head out of 8/4-bit quantization, the loss's device fix."""

    remote_code = True
    family = "ChatGLM"

    def attention_kwargs(self) -> dict[str, Any]:
        return {}  # the remote code picks its own attention

    def quantization_kwargs(self) -> dict[str, Any]:
        kwargs = super().quantization_kwargs()
        q = kwargs.get("quantization_config")
        if q is not None:
            q.llm_int8_skip_modules = list(SKIP_QUANTIZATION)
        return kwargs

    def post_process(self, model: Any, tokenizer: Any) -> Any:
        patch_cross_entropy_device()
        return super().post_process(model, tokenizer)


def patch_cross_entropy_device() -> None:
    """Make ``torch.nn.CrossEntropyLoss`` move its target to the input's device first (once per process)."""
    import torch

    forward = torch.nn.CrossEntropyLoss.forward
    if getattr(forward, "_ftcore_device_fix", False):
        return

    def forward_on_input_device(self: Any, input: Any, target: Any) -> Any:  # noqa: A002 - torch's names
        return forward(self, input, target.to(input.device))

    forward_on_input_device._ftcore_device_fix = True  # type: ignore[attr-defined]
    torch.nn.CrossEntropyLoss.forward = forward_on_input_device  # type: ignore[method-assign]


def is_chatglm(spec: ModelSpec, model_dir: str) -> bool:
    """The spec is one of our remote-code models, or the folder holds ChatGLM2 / ChatGLM3 weights."""
    from ftcore_chatglm.catalog import ARCH

    if spec.name in ARCH and (not spec.plugin or spec.plugin.startswith("ftcore-chatglm")):
        return ARCH[spec.name] == "chatglm"
    try:
        config = json.loads(Path(model_dir, "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and config.get("model_type") == "chatglm"


def load_chatglm(spec: ModelSpec, options: ModelOptions) -> tuple[Any, Any] | None:
    """The ``load_model`` hook of ftcore-chatglm: ChatGLM2 / ChatGLM3; None for the rest (GLM-4 included)."""
    return ChatGLMLoader(spec, options).load() if is_chatglm(spec, options.model_dir) else None
