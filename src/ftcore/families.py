"""Known model families and the plugin package that provides each, for the one-line message when a family model
is requested without its plugin installed ("model X is provided by plugin ftcore-Y: pip install ftcore-Y").

Pure Python, no imports beyond the standard library (the registry's error path uses it at start-up).
"""

from __future__ import annotations

import fnmatch

#: family -> (pip package, model-name patterns of the catalog names it registers)
FAMILIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "llama": ("ftcore-llama", ("llama2-*", "llama3-*", "llama3.*")),
    "openbuddy": ("ftcore-openbuddy", ("openbuddy-*",)),
    "mistral": ("ftcore-mistral", ("mistral-*", "mixtral-*")),
    "ziya": ("ftcore-ziya", ("ziya-*", "ziya2-*")),
    "damo": ("ftcore-damo", ("polylm-*", "seqgpt-*")),
}


def plugin_for_model(name: str) -> str | None:
    """The pip package whose plugin registers model ``name`` (a known family's name pattern), else None."""
    low = name.lower()
    for package, patterns in FAMILIES.values():
        if any(fnmatch.fnmatchcase(low, p) for p in patterns):
            return package
    return None


def missing_plugin_message(name: str) -> str | None:
    """``model 'X' is provided by plugin ftcore-Y: pip install ftcore-Y``, or None for an unknown family."""
    package = plugin_for_model(name)
    if package is None:
        return None
    return f"model {name!r} is provided by plugin {package}: pip install {package}"


__all__ = ["FAMILIES", "missing_plugin_message", "plugin_for_model"]
