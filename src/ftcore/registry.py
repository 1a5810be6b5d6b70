"""The catalog of models, templates, datasets, tuners and stages gathered from every plugin's ``register_*`` hook.

Built once, lazily. Each entry remembers the plugin that registered it (``spec.plugin`` is its
``"<dist> <version>"``; :meth:`Catalog.owner` is the plugin's registered name). Registering a name another plugin
already owns is an error naming both distributions: no silent override, no renaming; the name is then unusable
until one of them goes (``FTCORE_LOAD_PLUGINS`` helps). A spec builds on another one only through its explicit
``extends`` field: it takes a new name and inherits every field it leaves at its default.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterator
from typing import Any, Generic, TypeVar

from ftcore.errors import FtcoreError, PluginError, PluginHookError, debug_enabled, print_traceback
from ftcore.plugins import FtcorePluginManager, get_plugin_manager
from ftcore.specs import DatasetSpec, ModelSpec, StageSpec, TemplateSpec, TunerSpec

S = TypeVar("S", ModelSpec, TemplateSpec, DatasetSpec, TunerSpec, StageSpec)

KINDS: dict[str, type[Any]] = {
    "model": ModelSpec,
    "template": TemplateSpec,
    "dataset": DatasetSpec,
    "tuner": TunerSpec,
    "stage": StageSpec,
}

#: fields ``extends`` never copies from the base
_OWN_FIELDS = ("name", "extends", "plugin")


class Table(Generic[S]):
    """Specs of one kind by name, in registration order (built-ins first)."""

    def __init__(self, kind: str, *, list_known: bool = False):
        self.kind = kind
        #: unknown-name messages list every known name (short tables: tuners)
        self.list_known = list_known
        self.specs: dict[str, S] = {}
        #: plugin registration name (``Catalog.owner``) per spec name
        self.owners: dict[str, str] = {}
        #: names two plugins registered: name -> the error message
        self.conflicts: dict[str, str] = {}

    def __contains__(self, name: object) -> bool:
        return name in self.specs

    def __iter__(self) -> Iterator[S]:
        return iter(self.specs.values())

    def __len__(self) -> int:
        return len(self.specs)

    def names(self) -> list[str]:
        return list(self.specs)

    def get(self, name: str) -> S:
        """The spec called ``name``; an unknown or conflicting name is an error saying what to do."""
        if name in self.conflicts:
            raise PluginError(self.conflicts[name])
        try:
            return self.specs[name]
        except KeyError:
            raise FtcoreError(self.unknown(name)) from None

    def unknown(self, name: str) -> str:
        """The message for an unknown ``name``, with close matches suggested; an unknown model of a known family
        whose plugin is not loaded names the pip package (:mod:`ftcore.families`)."""
        if self.kind == "model":
            missing = self._missing_family_plugin(name)
            if missing:
                return missing
        close = difflib.get_close_matches(name, list(self.specs), n=3, cutoff=0.6)
        if self.list_known:
            known = f"known: {', '.join(self.specs) or 'none'}; see: ftcore {self.kind}s"
            hint = f" (did you mean {', '.join(close)}? {known})" if close else f" ({known})"
        else:
            hint = f" (did you mean {', '.join(close)}?)" if close else f" (see: ftcore {self.kind}s)"
        return f"unknown {self.kind} {name!r}{hint}"

    def _missing_family_plugin(self, name: str) -> str | None:
        """"provided by the plugin …: pip install …" when ``name`` is of a known family whose plugin registered
        nothing here (not installed, or installed but not loaded); None when the plugin is loaded."""
        from ftcore.families import family_plugin

        dist = family_plugin(name)
        if dist is None or any(spec.plugin.split(" ")[0] == dist for spec in self.specs.values()):
            return None
        from importlib.metadata import PackageNotFoundError, version

        try:
            version(dist)
        except PackageNotFoundError:
            return f"model {name!r} is provided by the plugin {dist}: pip install {dist}"
        return (
            f"model {name!r} is provided by the plugin {dist}, which is installed but not loaded "
            "(see: ftcore plugins; check FTCORE_LOAD_PLUGINS)"
        )


class Catalog:
    """Every registered model, template, dataset and tuner, plus the registration errors met on the way."""

    def __init__(self) -> None:
        self.models: Table[ModelSpec] = Table("model")
        self.templates: Table[TemplateSpec] = Table("template")
        self.datasets: Table[DatasetSpec] = Table("dataset")
        self.tuners: Table[TunerSpec] = Table("tuner", list_known=True)
        self.stages: Table[StageSpec] = Table("stage", list_known=True)
        #: one line per problem, each naming the plugin at fault
        self.errors: list[str] = []
        #: the problems of each plugin (by registered name): a ``register_*`` hook that raised, an invalid spec
        self.plugin_errors: dict[str, list[str]] = {}
        #: the exception behind an error line, where one raised (``FTCORE_DEBUG=1`` shows its traceback)
        self.exceptions: dict[str, BaseException] = {}

    def fail(self, message: str, plugin_name: str | None = None, exception: BaseException | None = None) -> None:
        """Record a registration problem (``plugin_name``: the plugin at fault, when one is)."""
        self.errors.append(message)
        if exception is not None:
            self.exceptions[message] = exception
        if plugin_name is not None:
            self.plugin_errors.setdefault(plugin_name, []).append(message)

    def table(self, kind: str) -> Table[Any]:
        """The table of ``kind`` (``model``, ``template``, ``dataset``, ``tuner`` or ``stage``)."""
        tables: dict[str, Table[Any]] = {
            "model": self.models,
            "template": self.templates,
            "dataset": self.datasets,
            "tuner": self.tuners,
            "stage": self.stages,
        }
        return tables[kind]

    def owner(self, kind: str, name: str) -> str | None:
        """The registered name of the plugin that registered ``kind`` ``name`` (e.g. ``qwen``)."""
        return self.table(kind).owners.get(name)

    def add(self, kind: str, spec: Any, plugin: str, plugin_name: str | None = None) -> None:
        """Validate and add one spec on behalf of ``plugin`` (its ``"<dist> <version>"``).

        The spec is copied, so plugins can keep their specs in module-level constants.
        """
        expected = KINDS[kind]
        if not isinstance(spec, expected):
            self.fail(
                f"plugin {plugin}: register_{kind}s: register() got {type(spec).__name__}, "
                f"expected ftcore.{expected.__name__}",
                plugin_name,
            )
            return
        table = self.table(kind)
        name = spec.name
        if name in table.conflicts:
            self.errors.append(f"{kind} {name!r} is also registered by {plugin}")
            return
        if name in table:
            owner = table.specs[name].plugin
            who = f"twice by {plugin}" if owner == plugin else f"by both {owner} and {plugin}"
            other = (
                f"register the new one under another name with extends={name!r}"
                if hasattr(spec, "extends")
                else "register the new one under another name"
            )
            message = (
                f"{kind} {name!r} is registered {who}; uninstall one of them (or set FTCORE_LOAD_PLUGINS), or {other}"
            )
            table.conflicts[name] = message
            self.errors.append(message)
            del table.specs[name]
            table.owners.pop(name, None)
            return
        problems = spec.problems()
        if problems:
            for p in problems:
                self.fail(f"plugin {plugin}: {p}", plugin_name)
            return
        spec = dataclasses.replace(spec)
        spec.plugin = plugin
        table.specs[name] = spec
        table.owners[name] = plugin_name or plugin

    def resolve_extends(self) -> None:
        """Fill the default-valued fields of specs that name ``extends`` from the spec they extend (chains too)."""
        for table in (self.models, self.templates, self.datasets):
            done: set[str] = set()
            for name in list(table.specs):
                self._resolve(table, name, done, [])

    def _resolve(self, table: Table[Any], name: str, done: set[str], stack: list[str]) -> bool:
        """Resolve one spec; False when it had to be dropped (unknown base, cycle, invalid result)."""
        if name in done:
            return name in table.specs
        spec = table.specs.get(name)
        if spec is None:
            return False
        base_name = getattr(spec, "extends", None)
        if not base_name:
            done.add(name)
            return True
        kind = table.kind
        problem = None
        if base_name == name:
            problem = f"{kind} {name!r} extends itself; give the new spec another name"
        elif base_name in stack:
            problem = f"{kind} {name!r}: extends forms a cycle ({' -> '.join([*stack, name, base_name])})"
        elif base_name in table.conflicts:
            problem = f"{kind} {name!r} extends {base_name!r}, which is registered by two plugins"
        elif base_name in table.specs and not self._resolve(table, base_name, done, [*stack, name]):
            problem = (
                f"{kind} {name!r} extends {base_name!r}, which could not be registered (see the error above)"
            )
        elif base_name not in table.specs:
            problem = f"{kind} {name!r} extends unknown {kind} {base_name!r}" + (
                f" (did you mean {', '.join(c)}?)"
                if (c := difflib.get_close_matches(base_name, list(table.specs), n=3, cutoff=0.6))
                else ""
            )
        if problem is None:
            base = table.specs[base_name]
            for f in dataclasses.fields(spec):
                if f.name not in _OWN_FIELDS and getattr(spec, f.name) == _default(f):
                    setattr(spec, f.name, _copy(getattr(base, f.name)))
            problems = spec.problems()
            if problems:
                problem = "; ".join(problems)
        done.add(name)
        if problem is not None:
            self.fail(f"plugin {spec.plugin}: {problem}", table.owners.get(name))
            del table.specs[name]
            table.owners.pop(name, None)
            return False
        return True

    def check(self) -> None:
        """Raise a :class:`PluginError` listing every registration error (runs call this before starting)."""
        if self.errors:
            error = PluginError("\n".join(self.errors))
            causes = [self.exceptions[e] for e in self.errors if e in self.exceptions]
            if causes:
                raise error from causes[0]
            raise error


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def _copy(value: Any) -> Any:
    if isinstance(value, (list, dict)):
        return type(value)(value)
    return value


_catalog: Catalog | None = None
#: the plugin manager and its generation the catalog was built from (a plugin added or removed since: rebuild)
_built_from: tuple[FtcorePluginManager, int] | None = None


def get_catalog() -> Catalog:
    """The catalog, built from every loaded plugin on first use (and again once the set of plugins changed)."""
    global _catalog, _built_from
    pm = get_plugin_manager()
    if _catalog is None or _built_from is None or _built_from[0] is not pm or _built_from[1] != pm.generation:
        _catalog = _build(pm)
        _built_from = (pm, pm.generation)
    return _catalog


def reset() -> None:
    """Forget the catalog; the next :func:`get_catalog` asks every plugin again."""
    global _catalog, _built_from
    _catalog = None
    _built_from = None


def _build(pm: FtcorePluginManager) -> Catalog:
    catalog = Catalog()
    for kind in KINDS:
        caller = getattr(pm.hook, f"register_{kind}s")
        # get_hookimpls() lists plugins in registration order (built-ins first); pluggy *calls* them in reverse,
        # so call each implementation ourselves to let the first-registered plugin own a name first
        for impl in caller.get_hookimpls():
            plugin = pm.dist_of(impl.plugin_name)

            def register(
                spec: Any, _kind: str = kind, _plugin: str = plugin, _name: str = impl.plugin_name
            ) -> None:
                catalog.add(_kind, spec, _plugin, _name)

            try:
                impl.function(register=register)
            except Exception as exc:  # noqa: BLE001 - a broken plugin must not break the catalog
                error = exc if isinstance(exc, PluginHookError) else PluginHookError(plugin, f"register_{kind}s", exc)
                catalog.fail(str(error), impl.plugin_name, error.original)
                if debug_enabled():
                    print_traceback(error.original)
    catalog.resolve_extends()
    return catalog


#: first-party template and dataset plugins ftcore knows by name: distribution -> kind -> glob patterns of the
#: names it provides (models: ftcore.families); an unknown name that matches, while the distribution is not installed,
#: says what to pip install
KNOWN_PLUGINS: dict[str, dict[str, tuple[str, ...]]] = {
    "ftcore-qwen": {"template": ("qwen*",)},
    "ftcore-datasets-zh": {"dataset": ("*-zh",)},
    "ftcore-datasets-en": {"dataset": ("*-en",)},
}


def split_label(label: str) -> tuple[str, str | None]:
    """``"<dist> <version>"`` (a spec's ``plugin``) as ``(dist, version)``; a local file's label has no version."""
    if label.endswith(" (local file)"):
        return label[: -len(" (local file)")], None
    dist, _, version = label.rpartition(" ")
    return (dist, version) if dist else (label, None)


def _installed(dist: str) -> bool:
    from importlib.metadata import PackageNotFoundError, version

    try:
        version(dist)
    except PackageNotFoundError:
        return False
    return True


def missing_provider(kind: str, name: str, recorded: dict[str, Any] | None = None) -> str | None:
    """Why ``kind`` ``name`` is unknown when the plugin providing it is not installed, with the pip command.

    ``recorded`` is what a run's manifest says provided it (``{"plugin": dist, "version": v}``,
    see ``manifest.json``'s ``provided_by``); without one, ftcore's own plugins are matched by name
    (:data:`KNOWN_PLUGINS`). None when no uninstalled plugin is known to provide the name.
    """
    import fnmatch

    if recorded and recorded.get("plugin") and not str(recorded["plugin"]).startswith("ftcore "):
        dist, version = str(recorded["plugin"]), recorded.get("version")
        if recorded.get("local"):
            return f"trained with the local plugin file {dist}, which the run no longer loads"
        if not _installed(dist):
            pin = f"=={version}" if version else ""
            return (f"trained with plugin {dist}{' ' + version if version else ''}, which is not installed: "
                    f"pip install {dist}{pin}")
        return None
    if kind == "model":  # model families: the one table of them (ftcore.families)
        from ftcore.families import family_plugin

        family = family_plugin(name)
        if family and not _installed(family):
            return f"plugin {family} provides it and is not installed: pip install {family}"
        return None
    for dist, kinds in KNOWN_PLUGINS.items():
        if any(fnmatch.fnmatch(name, pattern) for pattern in kinds.get(kind, ())) and not _installed(dist):
            return f"plugin {dist} provides it and is not installed: pip install {dist}"
    return None


def get_model_spec(name: str) -> ModelSpec:
    """The registered model called ``name`` (an error suggests close names)."""
    return get_catalog().models.get(name)


def get_template_spec(name: str) -> TemplateSpec:
    """The registered template called ``name``."""
    return get_catalog().templates.get(name)


def get_dataset_spec(name: str) -> DatasetSpec:
    """The registered dataset called ``name``."""
    return get_catalog().datasets.get(name)


def get_stage_spec(name: str) -> StageSpec:
    """The registered training stage called ``name`` (``train.stage``)."""
    return get_catalog().stages.get(name)


def get_tuner_spec(name: str) -> TunerSpec:
    """The registered tuning method called ``name`` (``tuner.method``)."""
    return get_catalog().tuners.get(name)


__all__ = [
    "Catalog",
    "PluginError",
    "Table",
    "get_catalog",
    "get_dataset_spec",
    "get_model_spec",
    "get_stage_spec",
    "get_template_spec",
    "get_tuner_spec",
    "missing_provider",
    "reset",
]
