"""Loading OpenBuddy: transformers' own Llama / Mistral classes, nothing changed (ms-swift's plain loader)."""

from __future__ import annotations

from ftcore import ModelLoader


class OpenBuddyLoader(ModelLoader):
    """OpenBuddy as transformers loads it."""

    family = "OpenBuddy"
