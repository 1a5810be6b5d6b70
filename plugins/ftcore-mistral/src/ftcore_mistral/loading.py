"""Loading Mistral / Mixtral: transformers' own classes, nothing changed (ms-swift's plain loader)."""

from __future__ import annotations

from ftcore import ModelLoader


class MistralLoader(ModelLoader):
    """Mistral and Mixtral as transformers loads them."""

    family = "Mistral"
