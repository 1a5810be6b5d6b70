"""Loading Ziya2: transformers' own Llama classes, nothing changed (ms-swift's plain loader)."""

from __future__ import annotations

from ftcore import ModelLoader


class ZiyaLoader(ModelLoader):
    """Ziya2 as transformers loads it."""

    family = "Ziya"
