"""The catalog of models, templates and datasets gathered from every plugin's ``register_*`` hook.

Built once, lazily. Each entry remembers the plugin (distribution) that registered it. Registering a name
another plugin already owns is an error naming both distributions: no silent override, no renaming.
A spec may build on another one only through its explicit ``extends`` field.
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any, Generic, TypeVar

from ftcore.errors import FtcoreError, PluginError
from ftcore.specs import DatasetSpec, ModelSpec, TemplateSpec

S = TypeVar("S", ModelSpec, TemplateSpec, DatasetSpec)

KINDS = {"model": ModelSpec, "template": TemplateSpec, "dataset": DatasetSpec}


class Table(Generic[S]):
    """Specs of one kind by name."""

    def __init__(self, kind: str):
        self.kind = kind
        self.specs: dict[str, S] = {}

    def __contains__(self, name: object) -> bool:
        return name in self.specs

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.specs.values())

    def __len__(self) -> int:
        return len(self.specs)

    def names(self) -> list[str]:
        return list(self.specs)

    def get(self, name: str) -> S:
        """The spec called ``name``; an unknown name is an error with close matches suggested."""
        try:
            return self.specs[name]
        except KeyError:
            close = difflib.get_close_matches(name, self.specs, n=3, cutoff=0.6)
            hint = f" (did you mean {', '.join(close)}?)" if close else f" (see: ftcore {self.kind}s)"
            raise FtcoreError(f"unknown {self.kind} {name!r}{hint}") from None


class Catalog:
    """Every registered model, template and dataset, plus the registration errors met on the way."""

    def __init__(self) -> None:
        self.models: Table[ModelSpec] = Table("model")
        self.templates: Table[TemplateSpec] = Table("template")
        self.datasets: Table[DatasetSpec] = Table("dataset")
        self.errors: list[str] = []

    def table(self, kind: str) -> Table[Any]:
        return {"model": self.models, "template": self.templates, "dataset": self.datasets}[kind]

    def add(self, kind: str, spec: Any, plugin: str) -> None:
        """Validate and add one spec on behalf of ``plugin`` (its ``"<dist> <version>"``)."""
        expected = KINDS[kind]
        if not isinstance(spec, expected):
            self.errors.append(
                f"plugin {plugin}: register_{kind}s registered {type(spec).__name__}, expected {expected.__name__}"
            )
            return
        table = self.table(kind)
        name = getattr(spec, "name", None)
        if name in table:
            owner = table.specs[name].plugin
            self.errors.append(
                f"{kind} {name!r} is registered by both {owner} and {plugin}; "
                f"uninstall one, or have one use extends= with a new name"
            )
            return
        problems = spec.problems()
        if problems:
            self.errors.extend(f"plugin {plugin}: {p}" for p in problems)
            return
        spec.plugin = plugin
        table.specs[name] = spec

    def resolve_extends(self) -> None:
        """Fill the unset fields of specs that name ``extends`` from the spec they extend."""
        for table in (self.models,):
            for spec in list(table):
                base_name = getattr(spec, "extends", None)
                if not base_name:
                    continue
                if base_name not in table:
                    self.errors.append(f"plugin {spec.plugin}: model {spec.name!r} extends unknown {base_name!r}")
                    del table.specs[spec.name]
                    continue
                base = table.specs[base_name]
                defaults = {f.name: _default(f) for f in dataclasses.fields(spec)}
                for f in dataclasses.fields(spec):
                    if f.name in ("name", "extends", "plugin"):
                        continue
                    if getattr(spec, f.name) == defaults[f.name]:
                        setattr(spec, f.name, getattr(base, f.name))

    def check(self) -> None:
        """Raise a :class:`PluginError` listing every registration error (runs call this before starting)."""
        if self.errors:
            raise PluginError("\n".join(self.errors))


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


_catalog: Catalog | None = None


def get_catalog() -> Catalog:
    """The catalog, built from every loaded plugin on first use."""
    global _catalog
    if _catalog is None:
        _catalog = _build()
    return _catalog


def reset() -> None:
    global _catalog
    _catalog = None


def _build() -> Catalog:
    from ftcore.plugins import get_plugin_manager

    pm = get_plugin_manager()
    catalog = Catalog()
    for kind in ("model", "template", "dataset"):
        caller = getattr(pm.hook, f"register_{kind}s")
        # pluggy calls the last-registered first; walk in registration order so built-ins own names first
        for impl in reversed(caller.get_hookimpls()):
            plugin = pm.dist_of(impl.plugin_name)

            def register(spec: Any, _kind: str = kind, _plugin: str = plugin) -> None:
                catalog.add(_kind, spec, _plugin)

            try:
                impl.function(register=register)
            except Exception as exc:  # noqa: BLE001 - a broken plugin must not break the catalog
                catalog.errors.append(f"plugin {plugin}: register_{kind}s failed: {type(exc).__name__}: {exc}")
    catalog.resolve_extends()
    return catalog


def get_model_spec(name: str) -> ModelSpec:
    return get_catalog().models.get(name)


def get_template_spec(name: str) -> TemplateSpec:
    return get_catalog().templates.get(name)


def get_dataset_spec(name: str) -> DatasetSpec:
    return get_catalog().datasets.get(name)


__all__ = [
    "Catalog",
    "PluginError",
    "get_catalog",
    "get_dataset_spec",
    "get_model_spec",
    "get_template_spec",
    "reset",
]
