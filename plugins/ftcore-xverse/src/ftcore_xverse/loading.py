"""Loading XVERSE (remote code): :class:`XverseLoader`, a :class:`ftcore.ModelLoader` subclass named in each
catalog entry's ``ModelSpec.loader``.

ms-swift loads XVERSE with its plain "from repo" routine; what ftcore adds is what the generic loader cannot know:
the checkpoints need ``trust_remote_code`` (a one-line error naming the key otherwise) and the remote code picks its
own attention (``model.attn`` is not passed on). The ``load_model`` hook (:func:`load_xverse`) applies the same
class to ad-hoc XVERSE folders (``model.path`` / ``model.repo`` whose config.json says ``xverse``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ftcore import ModelLoader, ModelOptions, ModelSpec


class XverseLoader(ModelLoader):
    """XVERSE remote code as is: trust_remote_code required, no attention override."""

    remote_code = True
    family = "XVERSE"

    def attention_kwargs(self) -> dict[str, Any]:
        return {}  # the remote code picks its own attention


def is_xverse(spec: ModelSpec, model_dir: str) -> bool:
    """The spec is one of ours, or the folder holds XVERSE weights."""
    from ftcore_xverse.catalog import SEED_MODELS

    if spec.name in SEED_MODELS and (not spec.plugin or spec.plugin.startswith("ftcore-xverse")):
        return True
    try:
        config = json.loads(Path(model_dir, "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and (
        config.get("model_type") == "xverse"
        or any(str(a).lower().startswith("xverse") for a in config.get("architectures") or [])
    )


def load_xverse(spec: ModelSpec, options: ModelOptions) -> tuple[Any, Any] | None:
    """The ``load_model`` hook of ftcore-xverse; None for models that are not XVERSE."""
    return XverseLoader(spec, options).load() if is_xverse(spec, options.model_dir) else None
