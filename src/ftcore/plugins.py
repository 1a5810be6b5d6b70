"""The plugin manager: built-in plugins first, then installed ones (entry-point group ``ftcore``), then local files.

Loading is lazy and happens once per process. A plugin that fails to import is recorded (and shown by
``ftcore plugins``) instead of breaking the CLI; ``FTCORE_LOAD_PLUGINS`` limits which installed plugins load.
"""

from __future__ import annotations

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
from ftcore.errors import PluginError

ENTRY_POINT_GROUP = "ftcore"
ENV_LOAD_PLUGINS = "FTCORE_LOAD_PLUGINS"

#: The built-in plugins, registered before anything else (datasette's ``DEFAULT_PLUGINS`` idea).
BUILTIN_MODULES: tuple[str, ...] = (
    "ftcore.builtin.models",
    "ftcore.builtin.templates",
    "ftcore.builtin.datasets",
    "ftcore.builtin.tuners",
)


@dataclass
class PluginInfo:
    """What ``ftcore plugins`` shows about one plugin."""

    name: str
    dist: str
    version: str
    module: str
    builtin: bool = False
    hooks: list[str] = field(default_factory=list)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dist": self.dist,
            "version": self.version,
            "module": self.module,
            "builtin": self.builtin,
            "hooks": self.hooks,
            "error": self.error,
        }


class FtcorePluginManager(pluggy.PluginManager):
    """A pluggy manager that remembers each plugin's distribution and the plugins that failed to load."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT)
        self.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        self.broken: list[PluginInfo] = []

    def add(self, module: ModuleType | object, info: PluginInfo) -> None:
        """Register ``module`` under ``info.name`` and check its hook names (``check_pending``)."""
        try:
            self.register(module, name=info.name)
        except ValueError as exc:  # same plugin name twice
            raise PluginError(f"plugin {info.dist} {info.version}: {exc}") from exc
        try:
            self.check_pending()
        except pluggy.PluginValidationError as exc:
            self.unregister(name=info.name)
            raise PluginError(
                f"plugin {info.dist} {info.version} failed to load: {exc} "
                f"(hooks are: {', '.join(sorted(self._hook_names()))})"
            ) from exc
        info.hooks = sorted(
            impl_name for impl_name in self._hook_names() if _implements(self, info.name, impl_name)
        )
        self.infos[info.name] = info

    def _hook_names(self) -> list[str]:
        return [name for name in dir(self.hook) if not name.startswith("_")]

    def dist_of(self, plugin_name: str) -> str:
        """``"<dist> <version>"`` of a registered plugin, for error messages."""
        info = self.infos.get(plugin_name)
        return f"{info.dist} {info.version}" if info else plugin_name


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
    """Forget the plugin manager and the catalog (tests, and runs that add local plugin files)."""
    global _pm
    _pm = None
    from ftcore import registry

    registry.reset()


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


def _wanted() -> set[str] | None:
    raw = os.environ.get(ENV_LOAD_PLUGINS)
    if raw is None:
        return None
    return {part.strip() for part in raw.split(",") if part.strip()}


def _load_entry_points(pm: FtcorePluginManager) -> None:
    wanted = _wanted()
    seen: set[str] = set()
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist is not None else ep.name
        version = ep.dist.version if ep.dist is not None else "?"
        seen.update({ep.name, dist})
        if wanted is not None and ep.name not in wanted and dist not in wanted:
            continue
        info = PluginInfo(name=ep.name, dist=dist, version=version, module=ep.value)
        try:
            module = ep.load()
            pm.add(module, info)
        except Exception as exc:  # noqa: BLE001 - any import failure is reported, not raised
            info.error = f"plugin {dist} {version} failed to load: {type(exc).__name__}: {exc}"
            if isinstance(exc, PluginError):
                info.error = str(exc)
            pm.broken.append(info)
    if wanted:
        unknown = sorted(wanted - seen)
        if unknown:
            warnings.warn(
                f"{ENV_LOAD_PLUGINS} names plugins that are not installed: {', '.join(unknown)}",
                stacklevel=2,
            )


def load_local_plugins(paths: list[str], base_dir: str | os.PathLike[str] = ".") -> list[str]:
    """Load plugin files named in run.toml (``plugins = ["./custom.py"]``), relative to ``base_dir``.

    Returns the names under which they were registered. A missing file or an import error is a
    :class:`PluginError` naming the file.
    """
    pm = get_plugin_manager()
    names = []
    for raw in paths:
        path = (Path(base_dir) / raw).resolve()
        name = f"local:{path}"
        if pm.has_plugin(name):
            names.append(name)
            continue
        if not path.is_file():
            raise PluginError(f"plugin file {raw} not found (looked at {path})")
        module_name = f"ftcore_local_{abs(hash(str(path)))}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise PluginError(f"plugin file {raw} cannot be imported (is it a .py file?)")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # noqa: BLE001
            del sys.modules[module_name]
            raise PluginError(f"plugin file {raw} failed to load: {type(exc).__name__}: {exc}") from exc
        pm.add(module, PluginInfo(name=name, dist=f"file {raw}", version="local", module=str(path)))
        names.append(name)
    from ftcore import registry

    registry.reset()
    return names


def plugin_infos(include_builtin: bool = False) -> list[PluginInfo]:
    """Loaded plugins (and broken ones) for ``ftcore plugins``."""
    pm = get_plugin_manager()
    infos = [i for i in pm.infos.values() if include_builtin or not i.builtin]
    return infos + list(pm.broken)
