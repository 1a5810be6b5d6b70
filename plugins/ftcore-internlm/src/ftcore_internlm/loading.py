"""Loading InternLM, InternLM2 / 2.5 and InternLM3 (remote code): :class:`ftcore.ModelLoader` subclasses named in
each catalog entry's ``ModelSpec.loader``.

ms-swift loads InternLM-1 with its plain "from repo" routine; ftcore adds what the generic loader cannot know: the
checkpoints need ``trust_remote_code`` (a one-line error naming the key and the family otherwise) and the remote
code picks its own attention (``model.attn`` is not passed on). The ``load_model`` hook (:func:`load_internlm`)
applies the same classes to ad-hoc folders (``model.path`` / ``model.repo``) whose config.json says
``internlm`` / ``internlm2`` / ``internlm3``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ftcore import ModelLoader, ModelOptions, ModelSpec


class InternLMLoader(ModelLoader):
    """InternLM-1 remote code as is: trust_remote_code required, no attention override."""

    remote_code = True
    family = "InternLM"

    def attention_kwargs(self) -> dict[str, Any]:
        return {}  # the remote code picks its own attention


class InternLM2Loader(InternLMLoader):
    """InternLM2 / InternLM2.5 (``wqkv``, head ``output``)."""

    family = "InternLM2"


class InternLM3Loader(InternLMLoader):
    """InternLM3."""

    family = "InternLM3"


def _folder_arch(model_dir: str) -> str | None:
    try:
        config = json.loads(Path(model_dir, "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    model_type = config.get("model_type") if isinstance(config, dict) else None
    return model_type if model_type in ("internlm", "internlm2", "internlm3") else None


def arch_of(spec: ModelSpec, model_dir: str) -> str | None:
    """``internlm`` / ``internlm2`` / ``internlm3`` for our models and InternLM folders, else None."""
    from ftcore_internlm.catalog import ARCH

    if spec.name in ARCH and (not spec.plugin or spec.plugin.startswith("ftcore-internlm")):
        return ARCH[spec.name]
    return _folder_arch(model_dir)


def loader_for(arch: str | None) -> type[ModelLoader] | None:
    from ftcore_internlm.catalog import LOADERS

    return None if arch is None else globals()[LOADERS[arch]]


def load_internlm(spec: ModelSpec, options: ModelOptions) -> tuple[Any, Any] | None:
    """The ``load_model`` hook of ftcore-internlm; None for models that are not InternLM."""
    cls = loader_for(arch_of(spec, options.model_dir))
    return None if cls is None else cls(spec, options).load()
