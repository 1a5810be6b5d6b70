"""Plugin conformance: check every model a plugin registers the way ftcore will use it, offline.

    from ftcore.testing import check_plugin

    def test_my_plugin_conforms(tmp_path):
        check_plugin("ftcore-tigerbot", tiny_models={"tigerbot-*": "llama"}, work_dir=tmp_path)

For each model the plugin registers (its ``register_models`` hook, called afresh):

1. **spec** — the spec is valid and complete (hub ids or a path, a default template, default LoRA targets, a
   ``chat`` or ``base`` tag, parseable requirements; with ``strict=True`` also both hubs and ``max_length``),
   and the catalog attributes the name to this plugin (no duplicate-name conflict);
2. **template** — the default template exists and encodes a conversation (with labelled tokens) and a
   generation prompt with the model's tokenizer;
3. **targets** — on a tiny instance of the architecture, every default LoRA target names Linear layers (and,
   for ``multimodal`` models, none inside the vision tower);
4. **train + infer** — for one representative per tiny architecture (or the models named in ``train``), a
   two-step LoRA run with :func:`ftcore.train` on a few generated rows, then :func:`ftcore.infer` on the
   checkpoint.

Steps 2–4 need a tiny stand-in: ``tiny_models`` maps a model name or glob pattern to an architecture known to
:func:`ftcore.testing.build_tiny_model_dir` (a key of ``TINY_CONFIGS``: ``qwen2``, ``llama``, ``mistral``,
``gemma2``, ``phi3``, ``glm4``, ``deepseek_v3``, ``gpt2``, ``bloom``, the MoE and VL ones …) or to a callable ``builder(out_dir) -> model_dir`` (remote-code families write their stand-in
modeling files there). Models no pattern matches get step 1 only and are listed as not exercised. Quantized
models (``int4`` / ``int8`` / ``gptq`` / ``awq`` / ``bnb`` / ``fp8`` tags) are loaded as unquantized stand-ins
and are not trained. One tiny instance per architecture is loaded (through the plugins' ``load_model`` hook)
and shared by the models mapped to it.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from ftcore.models.tiny import build_tiny_model_dir
from ftcore.specs import ModelSpec, TemplateSpec
from ftcore.testing.model_checks import (
    ModelCheck,
    _check_targets,
    _check_template,
    _load_tiny,
    _train_and_infer,
)

#: tags of quantized checkpoints: loaded as unquantized stand-ins, never trained by the check
QUANTIZED_TAGS = frozenset({"int4", "int8", "gptq", "awq", "bnb", "fp8"})


# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class ConformanceReport:
    """The result of :func:`check_plugin`: one :class:`ModelCheck` per model, plus plugin-level problems."""

    plugin: str
    models: list[ModelCheck] = dataclasses.field(default_factory=list)
    plugin_problems: list[str] = dataclasses.field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        """Every problem, one line each, prefixed with the model name."""
        out = list(self.plugin_problems)
        for m in self.models:
            out.extend(f"{m.name}: {p}" for p in m.problems)
        return out

    @property
    def not_exercised(self) -> list[str]:
        return [m.name for m in self.models if m.exercised == "spec"]

    @property
    def trained(self) -> list[str]:
        return [m.name for m in self.models if m.exercised == "trained"]

    def model(self, name: str) -> ModelCheck:
        return next(m for m in self.models if m.name == name)

    def summary(self) -> str:
        n = len(self.models)
        exercised = n - len(self.not_exercised)
        return (
            f"{self.plugin}: {n} models, {exercised} on a tiny instance, {len(self.trained)} trained + inferred, "
            f"{len(self.problems)} problems"
        )

    def raise_if_problems(self) -> None:
        if self.problems:
            raise AssertionError(self.summary() + "\n" + "\n".join(self.problems))


# --------------------------------------------------------------------------------------------------


def _find_plugin(plugin: ModuleType | object | str) -> tuple[Any, str, str | None, list[str]]:
    """(plugin object, dist name, registered name or None, problems) for a module, object or dist name."""
    from ftcore.plugins import get_plugin_manager

    pm = get_plugin_manager()
    if isinstance(plugin, str):
        for name, info in pm.infos.items():
            if plugin in (info.dist, info.name, info.module):
                return pm.get_plugin(name), info.dist, name, []
        for info in pm.broken:
            if plugin in (info.dist, info.name, info.module):
                return None, info.dist, None, [info.error or f"plugin {plugin} failed to load"]
        return None, plugin, None, [f"plugin {plugin!r} is not installed (ftcore plugins lists the installed ones)"]
    name = pm.get_name(plugin)  # type: ignore[assignment]
    if name is not None:
        info = pm.infos.get(name)  # type: ignore[assignment]
        return plugin, info.dist if info else name, name, []
    return plugin, getattr(plugin, "__name__", type(plugin).__name__), None, []


def _collect(plugin: Any, hook: str) -> list[Any]:
    impl = getattr(plugin, hook, None)
    if impl is None:
        return []
    found: list[Any] = []
    try:
        impl(register=found.append)
    except Exception:  # noqa: BLE001 - reported from the catalog's errors (see _check)
        return found
    return found


def _spec_problems(spec: ModelSpec, *, strict: bool) -> list[str]:
    out = list(spec.problems())
    if not spec.template:
        out.append("no default template (template=...)")
    if not spec.lora_targets:
        out.append("no default LoRA targets (lora_targets=[...])")
    if not ({"chat", "base"} & set(spec.tags)):
        out.append("tags name neither 'chat' nor 'base'")
    try:
        from packaging.requirements import InvalidRequirement, Requirement
    except ImportError:  # pragma: no cover
        Requirement = None  # type: ignore[assignment,misc]
    if Requirement is not None:
        for req in spec.requires:
            try:
                Requirement(req)
            except InvalidRequirement:
                out.append(f"requires: {req!r} is not a pip requirement")
    if strict:
        if spec.hub and set(spec.hub) != {"modelscope", "huggingface"}:
            out.append(f"strict: hub ids for both modelscope and huggingface (has {', '.join(spec.hub)})")
        if not spec.max_length:
            out.append("strict: no max_length")
    return out


def _builder_for(name: str, tiny_models: Mapping[str, Any]) -> tuple[str, Any] | None:
    if name in tiny_models:
        return name, tiny_models[name]
    for pattern, builder in tiny_models.items():
        if fnmatch.fnmatchcase(name, pattern):
            return pattern, builder
    return None


def _builder_key(builder: Any, taken: dict[int, str]) -> str:
    """A readable, unique name per builder: the architecture, or the callable's name (``#2``… when reused)."""
    if isinstance(builder, str):
        return builder
    if id(builder) in taken:
        return taken[id(builder)]
    base = getattr(builder, "__name__", None) or type(builder).__name__
    key, n = base, 1
    while key in taken.values():
        n += 1
        key = f"{base}#{n}"
    taken[id(builder)] = key
    return key


def _is_quantized(spec: ModelSpec) -> bool:
    return bool(QUANTIZED_TAGS & set(spec.tags))


def _unquantized(spec: ModelSpec) -> ModelSpec:
    """The spec as a plain stand-in: no quantization tags or quantization requirements."""
    quant_reqs = ("optimum", "gptq", "auto_gptq", "auto-gptq", "gptqmodel", "autoawq", "bitsandbytes")
    return dataclasses.replace(
        spec,
        tags=[t for t in spec.tags if t not in QUANTIZED_TAGS],
        requires=[r for r in spec.requires if not r.lower().startswith(quant_reqs)],
    )


def check_plugin(
    plugin: ModuleType | object | str,
    *,
    tiny_models: Mapping[str, str | Callable[[Path], str]] | None = None,
    models: Iterable[str] | None = None,
    train: str | Iterable[str] = "representatives",
    work_dir: str | os.PathLike[str] | None = None,
    strict: bool = False,
    steps: int = 2,
    raise_on_problems: bool = True,
    tuners: str | Iterable[str] = "none",
) -> ConformanceReport:
    """Check every model ``plugin`` registers (see the module docstring) and return the report.

    :param plugin: the plugin module (or object), or its distribution / entry-point name. A module that is not
        installed is registered for the duration of the check.
    :param tiny_models: model name or glob pattern -> tiny architecture name, or ``builder(out_dir) -> folder``.
    :param models: check only these models (default: all the plugin registers).
    :param train: ``"representatives"`` (one unquantized model per tiny architecture), ``"none"``, ``"all"``
        (every unquantized exercised model), or model names.
    :param work_dir: where tiny models, data and runs go (default: a new temporary folder).
    :param strict: also require hub ids on both hubs and ``max_length``.
    :param steps: training steps of the train + infer check.
    :param raise_on_problems: raise ``AssertionError`` listing every problem (pytest shows it) instead of only
        returning the report.
    :param tuners: ``"all"`` (every case of :data:`ftcore.testing.tuners.TUNER_CASES`) or case names: each trained
        model also runs the tuner table (train, reload with plain peft, infer, merge), problems as ``tuner <case>``.
    """
    from ftcore.plugins import PluginInfo, get_plugin_manager
    from ftcore.registry import reset

    obj, dist, registered, problems = _find_plugin(plugin)
    report = ConformanceReport(plugin=dist, plugin_problems=problems)
    if obj is None:
        if raise_on_problems:
            report.raise_if_problems()
        return report
    pm = get_plugin_manager()
    temporary = None
    if registered is None:
        temporary = f"conformance:{dist}"
        pm.add(obj, PluginInfo(name=temporary, dist=dist, version="local", module=dist))
        reset()
    try:
        _check(obj, dist, report, tiny_models or {}, models, train, work_dir, strict, steps, tuners)
    finally:
        if temporary is not None:
            pm.unregister(name=temporary)
            pm.infos.pop(temporary, None)
            reset()
    if raise_on_problems:
        report.raise_if_problems()
    return report


def _check(obj: Any, dist: str, report: ConformanceReport, tiny_models: Mapping[str, Any],
           models: Iterable[str] | None, train: str | Iterable[str], work_dir: Any, strict: bool,
           steps: int, tuners: str | Iterable[str] = "none") -> None:
    from ftcore.plugins import get_plugin_manager
    from ftcore.registry import get_catalog

    catalog = get_catalog()
    # a register_* hook that raised or an invalid spec: the catalog's line naming the plugin (status "error")
    report.plugin_problems.extend(catalog.plugin_errors.get(get_plugin_manager().get_name(obj) or "", []))
    specs: list[ModelSpec] = _collect(obj, "register_models")
    templates: list[TemplateSpec] = _collect(obj, "register_templates")
    if not specs and not templates:
        report.plugin_problems.append("the plugin registers no models and no templates")
    wanted = set(models) if models is not None else None
    if wanted is not None:
        unknown = wanted - {s.name for s in specs}
        report.plugin_problems.extend(f"{n}: not registered by the plugin" for n in sorted(unknown))
        specs = [s for s in specs if s.name in wanted]
    for t in templates:
        owner = catalog.templates.specs.get(t.name)
        if t.name in catalog.templates.conflicts:
            report.plugin_problems.append(catalog.templates.conflicts[t.name])
        elif owner is None or not owner.plugin.startswith(dist):
            report.plugin_problems.append(f"template {t.name!r} is not in the catalog as this plugin's")

    work = Path(work_dir) if work_dir is not None else Path(tempfile.mkdtemp(prefix="ftcore-conformance-"))
    work.mkdir(parents=True, exist_ok=True)
    groups: dict[str, list[tuple[ModelSpec, ModelCheck]]] = {}
    builders: dict[str, Any] = {}
    taken: dict[int, str] = {}
    for spec in specs:
        check = ModelCheck(spec.name)
        report.models.append(check)
        check.problems.extend(_spec_problems(spec, strict=strict))
        if spec.name in catalog.models.conflicts:
            check.problems.append(catalog.models.conflicts[spec.name])
        else:
            registered = catalog.models.specs.get(spec.name)
            if registered is None or not registered.plugin.startswith(dist):
                owner_name = registered.plugin if registered is not None else "nobody"
                check.problems.append(f"the catalog does not list it as {dist}'s (owner: {owner_name})")
        if spec.template and spec.template not in catalog.templates:
            check.problems.append(f"template {spec.template!r} is not registered (ftcore templates)")
        found = _builder_for(spec.name, tiny_models)
        if found is not None:
            key = _builder_key(found[1], taken)
            builders[key] = found[1]
            check.tiny = key
            groups.setdefault(key, []).append((spec, check))

    to_train = _training_set(groups, train)
    for index, (key, members) in enumerate(groups.items()):
        builder = builders[key]
        out = work / f"tiny-{index}-{''.join(c if c.isalnum() else '-' for c in key)}"
        try:
            built = builder(out) if callable(builder) else build_tiny_model_dir(out, builder)
            model_dir = os.fspath(built if built is not None else out)  # a builder may return a pathlib.Path
        except Exception as exc:  # noqa: BLE001
            for _, check in members:
                check.problems.append(f"tiny stand-in {key!r} failed to build: {type(exc).__name__}: {exc}")
            continue
        plain = [s for s, _ in members if not _is_quantized(s)]
        lead = plain[0] if plain else _unquantized(members[0][0])
        try:
            model, tokenizer = _load_tiny(lead, model_dir)
        except Exception as exc:  # noqa: BLE001
            for _, check in members:
                check.problems.append(f"loading the tiny stand-in as {lead.name} failed: {type(exc).__name__}: {exc}")
            continue
        for spec, check in members:
            _check_template(spec, tokenizer, check)
            _check_targets(model, spec, check)
            check.exercised = "targets"
        del model
        for spec, check in members:
            if spec.name in to_train and not check.problems:
                _train_and_infer(spec.name, model_dir, work, check, steps)
                if tuners != "none" and check.exercised == "trained":
                    from ftcore.testing.tuners import check_tuners

                    check.problems.extend(check_tuners(spec.name, model_dir, work / "tuners", tuners))


def _training_set(groups: Mapping[str, list[tuple[ModelSpec, ModelCheck]]], train: str | Iterable[str]) -> set[str]:
    if isinstance(train, str):
        if train == "none":
            return set()
        if train == "all":
            return {s.name for members in groups.values() for s, _ in members if not _is_quantized(s)}
        if train == "representatives":
            out = set()
            for members in groups.values():
                plain = [s.name for s, _ in members if not _is_quantized(s)]
                if plain:
                    out.add(plain[0])
            return out
        return {train}
    return set(train)


__all__ = ["ConformanceReport", "ModelCheck", "check_plugin"]
