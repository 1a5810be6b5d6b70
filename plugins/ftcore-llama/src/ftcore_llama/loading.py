"""Loading Llama models: :class:`ftcore.ModelLoader` subclasses named in each catalog entry's ``loader``.

* ``plain`` (:class:`LlamaLoader`): transformers' own Llama classes, nothing changed.
* ``llama2`` (:class:`Llama2Loader`; llama2-13b, llama2-13b-chat, llama2-70b-chat, as in ms-swift): the config is
  loaded first and ``pretraining_tp`` set to 1, so the forward runs the plain (not the slice-by-slice
  tensor-parallel) projections; the checkpoints' configs say 2 or 4.

An ad-hoc Llama folder (``model.path`` / ``model.repo``) whose config.json asks for ``pretraining_tp > 1`` gets
the same step through the ``load_model`` hook.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ftcore import ModelLoader, ModelOptions, ModelSpec


class LlamaLoader(ModelLoader):
    """Llama as transformers loads it."""

    family = "Llama"


class Llama2Loader(LlamaLoader):
    """Llama-2 13B / 70B: ``pretraining_tp = 1`` set on the config before loading."""

    def load_config(self) -> Any:
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(self.model_dir, trust_remote_code=self.trust_remote_code)
        config.pretraining_tp = 1
        return config


def needs_pretraining_tp_fix(model_dir: str) -> bool:
    """A Llama folder whose config.json sets ``pretraining_tp`` above 1."""
    try:
        config = json.loads(Path(model_dir, "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return config.get("model_type") == "llama" and int(config.get("pretraining_tp") or 1) > 1


def load_llama(spec: ModelSpec, options: ModelOptions) -> tuple[Any, Any] | None:
    """The ``load_model`` hook: ad-hoc Llama folders with ``pretraining_tp > 1``; None for anything else."""
    if spec.loader is None and needs_pretraining_tp_fix(options.model_dir):
        return Llama2Loader(spec, options).load()
    return None
