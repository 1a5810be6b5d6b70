"""The plugin manager: built-in plugins first, then installed ones (entry-point group ``ftcore``), then local files.

Loading is lazy and happens once per process. A plugin that fails to import (or implements a hook that does not
exist) is recorded as broken, reported as ``plugin <dist> <version> failed to load: <reason>`` and shown by
``ftcore plugins``; the other plugins and the CLI keep working. ``FTCORE_LOAD_PLUGINS`` limits which installed
plugins load (a comma list of entry-point or distribution names; empty = none).

Every hook implementation is wrapped when its plugin registers: an exception it raises (other than an
:class:`FtcoreError`, already a message for the user) becomes one :class:`PluginHookError`,
``plugin NAME VERSION: HOOK failed: ExcType: message``, and marks the plugin's status ``error``. A built-in
implementation running a third-party spec's code (its ``loader``, ``get`` …) names that spec's plugin.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import importlib
import importlib.util
import os
import sys
import warnings
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from ftcore import hookspecs
from ftcore.errors import FtcoreError, PluginError, PluginHookError, debug_enabled, describe, print_traceback

ENTRY_POINT_GROUP = "ftcore"
ENV_LOAD_PLUGINS = "FTCORE_LOAD_PLUGINS"

#: The built-in plugins, registered before anything else (datasette's ``DEFAULT_PLUGINS`` idea).
BUILTIN_MODULES: tuple[str, ...] = (
    "ftcore.builtin.models",
    "ftcore.builtin.templates",
    "ftcore.builtin.datasets",
    "ftcore.builtin.tuners",
    "ftcore.builtin.stages",
)


class FtcoreWarning(UserWarning):
    """A problem worth telling the user that does not stop the command (the CLI prints ``warning: …``)."""


@dataclass
class PluginInfo:
    """What ``ftcore plugins`` shows about one plugin."""

    #: the name the plugin is registered under: entry-point name, built-in module, or ``local:<path>``
    name: str
    #: the distribution that ships it (``ftcore`` for built-ins, the file as written in run.toml for local files)
    dist: str
    version: str
    module: str
    builtin: bool = False
    local: bool = False
    hooks: list[str] = field(default_factory=list)
    #: why the plugin is broken (failed to load, or one of its hooks raised); None when it works
    error: str | None = None
    #: ``ok`` | ``failed to load`` (import or hook check) | ``error`` (a hook raised)
    status: str = "ok"
    #: the exception behind ``error`` (``FTCORE_DEBUG=1`` prints its traceback)
    exception: BaseException | None = field(default=None, repr=False, compare=False)

    @property
    def label(self) -> str:
        """How messages name the plugin: ``<dist> <version>`` (``<file> (local file)`` for local plugin files)."""
        return f"{self.dist} (local file)" if self.local else f"{self.dist} {self.version}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dist": self.dist,
            "version": self.version,
            "module": self.module,
            "builtin": self.builtin,
            "local": self.local,
            "hooks": self.hooks,
            "status": self.status,
            "error": self.error,
        }

    def fail(self, message: str, exception: BaseException | None = None) -> None:
        """Mark the plugin broken by a hook that raised (its first failure is the one shown)."""
        if self.error is None:
            self.error, self.status, self.exception = message, "error", exception


class FtcorePluginManager(pluggy.PluginManager):
    """A pluggy manager that remembers each plugin's distribution and the plugins that failed to load."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT)
        self.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        self.broken: list[PluginInfo] = []
        #: bumped whenever a plugin is registered or unregistered: the catalog (registry.py, which depends on
        #: this module, never the other way round) is rebuilt when it changes
        self.generation = 0

    def register(self, plugin: object, name: str | None = None) -> str | None:
        self.generation += 1
        return super().register(plugin, name)

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any:
        self.generation += 1
        return super().unregister(plugin, name)

    @property
    def hook_names(self) -> list[str]:
        """The hooks plugins can implement (those of hookspecs.py)."""
        return sorted(
            n for n, caller in vars(self.hook).items() if not n.startswith("_") and caller.has_spec()
        )

    def add(self, plugin: ModuleType | object, info: PluginInfo) -> None:
        """Register ``plugin`` under ``info.name``; a bad hook implementation is a :class:`PluginError`.

        Hook names are checked at once (pluggy's ``check_pending``), so a misspelled hook cannot go unnoticed;
        the plugin is unregistered again when it fails.
        """
        if self.has_plugin(info.name) or self.is_registered(plugin):
            other = self.infos.get(info.name)
            if other is None:
                other = next((i for n, i in self.infos.items() if self.get_plugin(n) is plugin), None)
            also = f" (already registered by {other.label})" if other else ""
            raise PluginError(f"plugin {info.label} failed to load: plugin name {info.name!r} is taken{also}")
        try:
            self.register(plugin, name=info.name)
        except pluggy.PluginValidationError as exc:  # arguments the hook does not have
            raise PluginError(f"plugin {info.label} failed to load: {_one_line(str(exc))}") from exc
        try:
            self.check_pending()
        except pluggy.PluginValidationError:
            unknown = self._unknown_hooks(info.name)
            self.unregister(name=info.name)
            raise PluginError(
                f"plugin {info.label} failed to load: {self._describe_unknown(unknown)}"
            ) from None
        info.hooks = sorted(n for n in self.hook_names if _implements(self, info.name, n))
        self.infos[info.name] = info
        for hook_name in info.hooks:
            for impl in getattr(self.hook, hook_name).get_hookimpls():
                if impl.plugin_name == info.name:
                    impl.function = _guarded(impl.function, self, info, hook_name)

    def _unknown_hooks(self, plugin_name: str) -> list[str]:
        return sorted(
            name
            for name, caller in vars(self.hook).items()
            if not name.startswith("_")
            and not caller.has_spec()
            and any(
                impl.plugin_name == plugin_name and not impl.optionalhook for impl in caller.get_hookimpls()
            )
        )

    def _describe_unknown(self, unknown: list[str]) -> str:
        parts = []
        for name in unknown:
            close = difflib.get_close_matches(name, self.hook_names, n=1)
            parts.append(f"unknown hook {name!r}" + (f" (did you mean {close[0]}?)" if close else ""))
        return "; ".join(parts) + f"; the hooks are: {', '.join(self.hook_names)}"

    def dist_of(self, plugin_name: str) -> str:
        """``"<dist> <version>"`` of a registered plugin, for messages."""
        info = self.infos.get(plugin_name)
        return info.label if info else plugin_name

    def report_broken(self, info: PluginInfo, reason: str, exception: BaseException | None = None) -> None:
        """Record a plugin that failed to load and warn about it (once, when plugins load)."""
        info.error, info.status, info.exception = reason, "failed to load", exception
        self.broken.append(info)
        if exception is not None and debug_enabled():
            print_traceback(exception)
        warnings.warn(reason, FtcoreWarning, stacklevel=3)

    def info_by_label(self, label: str) -> PluginInfo | None:
        """The plugin whose ``"<dist> <version>"`` is ``label`` (what ``spec.plugin`` holds)."""
        return next((i for i in self.infos.values() if i.label == label), None)


def _guarded(function: Any, pm: FtcorePluginManager, info: PluginInfo, hook_name: str) -> Any:
    """``function`` (a hook implementation) with any exception it raises turned into one
    :class:`PluginHookError` naming the plugin at fault: the plugin itself, or for a built-in implementation,
    the plugin that registered the spec it was running (a ``ModelSpec.loader``, a ``DatasetSpec.get`` …).
    An :class:`FtcoreError` is already a message for the user and passes unchanged; so does a built-in's own
    failure on a built-in spec."""

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except FtcoreError:
            raise
        except Exception as exc:
            culprit: PluginInfo | None = info
            label = info.label
            if info.builtin:
                label = _spec_plugin(args, kwargs) or ""
                culprit = pm.info_by_label(label)
                if not label or label.startswith("ftcore "):
                    raise
            error = PluginHookError(label, hook_name, exc)
            if culprit is not None:
                culprit.fail(str(error), exc)
            raise error from exc

    return call


def _spec_plugin(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
    """The ``plugin`` label of the spec a hook call is about (its ``spec`` argument)."""
    for value in (*args, *kwargs.values()):
        plugin = getattr(value, "plugin", None)
        if isinstance(plugin, str) and plugin and hasattr(value, "name"):
            return plugin
    return None


def _one_line(text: str) -> str:
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def _implements(pm: pluggy.PluginManager, plugin_name: str, hook_name: str) -> bool:
    caller = getattr(pm.hook, hook_name, None)
    if caller is None:
        return False
    return any(impl.plugin_name == plugin_name for impl in caller.get_hookimpls())


_pm: FtcorePluginManager | None = None


def get_plugin_manager() -> FtcorePluginManager:
    """The process-wide plugin manager, built on first use."""
    global _pm
    if _pm is None:
        _pm = _build()
    return _pm


def reset() -> None:
    """Forget the plugin manager (tests; the next use loads every plugin again and rebuilds the catalog)."""
    global _pm
    _pm = None


def _build() -> FtcorePluginManager:
    pm = FtcorePluginManager()
    from ftcore import __version__

    for module_name in BUILTIN_MODULES:
        module = importlib.import_module(module_name)
        pm.add(
            module,
            PluginInfo(
                name=module_name, dist="ftcore", version=__version__, module=module_name, builtin=True
            ),
        )
    _load_entry_points(pm)
    return pm


def wanted_plugins() -> set[str] | None:
    """The names ``FTCORE_LOAD_PLUGINS`` allows: None when unset (load all), an empty set when empty (none)."""
    raw = os.environ.get(ENV_LOAD_PLUGINS)
    if raw is None:
        return None
    return {part.strip() for part in raw.split(",") if part.strip()}


def _norm(name: str) -> str:
    """Distribution names compare as pip does: case and ``-`` / ``_`` / ``.`` do not matter."""
    return name.lower().replace("_", "-").replace(".", "-")


def _load_entry_points(pm: FtcorePluginManager) -> None:
    wanted = wanted_plugins()
    wanted_norm = {_norm(w): w for w in wanted or ()}
    seen: set[str] = set()
    available: list[str] = []
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        dist = ep.dist.name if ep.dist is not None else ep.name
        version = ep.dist.version if ep.dist is not None else "?"
        seen.update({_norm(ep.name), _norm(dist)})
        available.append(f"{ep.name} ({dist})")
        if wanted is not None and _norm(ep.name) not in wanted_norm and _norm(dist) not in wanted_norm:
            continue
        info = PluginInfo(name=ep.name, dist=dist, version=version, module=ep.value)
        try:
            plugin = ep.load()
        except Exception as exc:  # noqa: BLE001 - any import failure is reported, not raised
            pm.report_broken(info, f"plugin {info.label} failed to load: {describe(exc)}", exc)
            continue
        try:
            pm.add(plugin, info)
        except PluginError as exc:
            pm.report_broken(info, str(exc), exc.__cause__)
    unknown = sorted(original for norm, original in wanted_norm.items() if norm not in seen)
    if unknown:
        warnings.warn(
            f"{ENV_LOAD_PLUGINS} names plugins that are not installed: {', '.join(unknown)}"
            + (f"; installed: {', '.join(available)}" if available else "; none is installed"),
            FtcoreWarning,
            stacklevel=3,
        )


def load_local_plugins(paths: list[str], base_dir: str | os.PathLike[str] = ".") -> list[str]:
    """Load plugin files named in run.toml (``plugins = ["./custom.py"]``), relative to ``base_dir``.

    Returns the names under which they were registered. A missing file, an import error or a bad hook is a
    :class:`PluginError` naming the file. Loading a file twice is a no-op; the catalog is rebuilt on its next use.
    """
    pm = get_plugin_manager()
    names = []
    for raw in paths:
        path = (Path(base_dir) / os.path.expanduser(raw)).resolve()
        name = f"local:{path}"
        if pm.has_plugin(name):
            names.append(name)
            continue
        if not path.is_file():
            raise PluginError(f"plugin file {raw} not found (looked at {path})")
        digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
        module_name = f"ftcore_local_{''.join(c if c.isalnum() else '_' for c in path.stem)}_{digest}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise PluginError(f"plugin file {raw} cannot be imported (is it a .py file?)")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # noqa: BLE001 - the user's file; say which and why
            del sys.modules[module_name]
            raise PluginError(
                f"plugin file {raw} failed to load: {type(exc).__name__}: {_one_line(str(exc))}"
            ) from exc
        pm.add(module, PluginInfo(name=name, dist=raw, version="local", module=str(path), local=True))
        names.append(name)
    return names


def plugin_infos(include_builtin: bool = False) -> list[PluginInfo]:
    """Loaded plugins (and broken ones) for ``ftcore plugins``; built-ins only with ``include_builtin``."""
    pm = get_plugin_manager()
    infos = [i for i in pm.infos.values() if include_builtin or not i.builtin]
    return infos + list(pm.broken)
