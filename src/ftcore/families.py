"""Known model families and the plugin (pip package) that provides each one.

A model name the catalog does not know is looked up here, so that a user who asks for ``chatglm2-6b`` without
ftcore-chatglm installed reads which package to install instead of a bare "unknown model". Pure Python, no
imports: the registry consults it at start-up.

:data:`FAMILIES` maps a model-name prefix to the distribution that registers the family's models; the longest
matching prefix wins (``openbuddy-llama2-`` before ``llama2-``). Add a row when a family plugin is added.
"""

from __future__ import annotations

#: model-name prefix -> pip package of the family plugin
FAMILIES: dict[str, str] = {
    "qwen": "ftcore-qwen",
    "baichuan": "ftcore-baichuan",
    "chatglm": "ftcore-chatglm",
    "glm-4": "ftcore-chatglm",
    "internlm": "ftcore-internlm",
    "xverse": "ftcore-xverse",
    "llama2-": "ftcore-llama",
    "llama3-": "ftcore-llama",
    "llama3.": "ftcore-llama",
    "openbuddy-": "ftcore-openbuddy",
    "mistral-": "ftcore-mistral",
    "mixtral-": "ftcore-mistral",
    "ziya-": "ftcore-ziya",
    "ziya2-": "ftcore-ziya",
    "polylm-": "ftcore-damo",
    "seqgpt-": "ftcore-damo",
}


def family_plugin(name: str) -> str | None:
    """The pip package of the family plugin whose models ``name`` looks like, or None (longest prefix wins)."""
    low = name.lower()
    hits = [prefix for prefix in FAMILIES if low.startswith(prefix)]
    return FAMILIES[max(hits, key=len)] if hits else None


#: the same lookup under the name the model-family plugins' tests use
plugin_for_model = family_plugin


__all__ = ["FAMILIES", "family_plugin", "plugin_for_model"]
