"""The catalog's entries (ModelSpec, TemplateSpec, DatasetSpec, TunerSpec, StageSpec) and the option objects hooks receive.

Specs are plain dataclasses: building one imports nothing heavy, so a plugin's entry module can declare
its whole catalog at import time and ``ftcore models`` never loads torch. They carry every field the
ms-swift's ``register_model`` / ``register_template`` / ``register_dataset`` took, plus tags.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from ftcore.errors import PluginError
from ftcore.specs.options import DatasetOptions, ModelOptions, TunerOptions, _fspath

#: Names are lower-case words joined by '-', '_' or '.', e.g. ``qwen2.5-7b-instruct``.
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")

#: the default system prompt (ms-swift's), used when neither the run nor the template names one
DEFAULT_SYSTEM = "you are a helpful assistant!"

HUBS = ("modelscope", "huggingface")


def _check_name(kind: str, name: str) -> list[str]:
    if not isinstance(name, str) or not NAME_RE.match(name):
        return [f"{kind} name {name!r} must be lower-case letters, digits, '.', '-' or '_'"]
    return []


#: field annotation (as written) -> the Python types its values may have
_SIMPLE_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,), "str | None": (str, type(None)), "bool": (bool,), "int | None": (int, type(None)),
    "list[str]": (list,), "list[Any]": (list,), "list[Any] | None": (list, type(None)), "dict[str, str]": (dict,),
    "dict[str, Any]": (dict,),
}


def _type_problems(kind: str, spec: Any) -> list[str]:
    """Fields whose value has the wrong type (a plugin wrote ``hub="Qwen/Qwen-7B"`` instead of a dict …)."""
    out = []
    for f in fields(spec):
        allowed = _SIMPLE_TYPES.get(str(f.type))
        value = getattr(spec, f.name)
        if allowed is not None and (not isinstance(value, allowed) or (bool not in allowed and value is True)):
            names = " or ".join("None" if t is type(None) else t.__name__ for t in allowed)
            out.append(f"{kind} {getattr(spec, 'name', '?')!r}: {f.name} must be {names} (got {value!r})")
    return out


@dataclass
class ModelSpec:
    """A model the catalog knows by name (ms-swift's ``register_model``).

    ``hub`` (ids per hub), ``path`` (a local folder) or ``build`` (a function that writes the folder on first use)
    tells where the weights live.
    """

    #: the catalog name (``model.name`` in run.toml): lower-case letters, digits, '.', '-' or '_'
    name: str
    #: ids per hub: ``{"modelscope": "qwen/Qwen-7B-Chat", "huggingface": "Qwen/Qwen-7B-Chat"}``
    hub: dict[str, str] = field(default_factory=dict)
    #: a local folder holding the weights (instead of, or before, the hub ids); absolute, or relative to the
    #: working directory (``~`` expanded); a ``pathlib.Path`` is accepted and stored as ``str``
    path: str | None = None
    #: ``build(out_dir: pathlib.Path) -> folder | None``: writes the model folder (config, tokenizer, weights) into
    #: ``out_dir`` on first use; the folder is kept in the ftcore cache (``$FTCORE_CACHE/models/<name>``) and reused.
    #: Returns the folder (a ``str`` or ``os.PathLike``), or None for ``out_dir``. Used when ``path`` is unset or
    #: not a folder and before any hub id; a plugin ships its small files as package data and copies them here
    build: Callable[..., Any] | None = None
    #: default template name; None = the tokenizer's own chat_template (``jinja``) if it has one, else ``default``
    template: str | None = None
    #: default LoRA target modules (``targets = "auto"``)
    lora_targets: list[str] = field(default_factory=list)
    #: pip requirement specifiers checked before loading, e.g. ``["transformers>=4.34"]``
    requires: list[str] = field(default_factory=list)
    #: preferred dtype: ``bf16`` | ``fp16`` | ``fp32`` | None (decided by ``model.dtype = "auto"``)
    dtype: str | None = None
    #: transformers Auto class used to load the model
    auto_class: str = "AutoModelForCausalLM"
    #: the hub revision (branch, tag or commit) to download; None = the default branch
    revision: str | None = None
    #: glob patterns of files not to download (e.g. ``["*.bin"]`` when safetensors exist)
    ignore_patterns: list[str] = field(default_factory=list)
    #: the model's context length (informative: ``ftcore models --json``, the conformance kit's strict check); None = unknown
    max_length: int | None = None
    #: the architecture needs ``trust_remote_code`` (off unless the spec or the user says so)
    trust_remote_code: bool = False
    #: free-form tags: ``chat`` / ``base``, ``int4`` / ``int8``, ``multimodal``, ``remote-code`` ...
    tags: list[str] = field(default_factory=list)
    #: name of a model (usually of another plugin) whose fields this spec inherits where it leaves them unset
    extends: str | None = None
    #: how this model loads: a :class:`ftcore.ModelLoader` subclass, or its dotted name ``"module:Class"``
    #: (imported only when the model loads, so declaring specs imports nothing heavy); also accepted, as
    #: ms-swift's ``get_function``: a plain ``loader(spec, options) -> (model, tokenizer)``. None = the
    #: ``load_model`` hook (a family plugin's, else the generic :class:`ftcore.ModelLoader`)
    loader: type | str | Callable[..., Any] | None = None
    #: extra keyword arguments for ``from_pretrained`` / the loader (ms-swift's ``function_kwargs``)
    loader_kwargs: dict[str, Any] = field(default_factory=dict)
    #: free-form annotations of the model's capabilities (ms-swift's ``**kwargs``)
    extra: dict[str, Any] = field(default_factory=dict)
    #: one line shown by ``ftcore models``
    description: str = ""
    #: filled in by the registry: the distribution that registered the spec
    plugin: str = ""

    def __post_init__(self) -> None:
        self.path = _fspath(self.path)

    def problems(self) -> list[str]:
        out = _check_name("model", self.name) + _type_problems("model", self)
        if out:
            return out
        if self.build is not None and not callable(self.build):
            out.append(f"model {self.name!r}: build must be a function build(out_dir) -> folder")
        if self.loader is not None and not callable(self.loader) and not (
            isinstance(self.loader, str) and ":" in self.loader
        ):
            out.append(f"model {self.name!r}: loader must be a ModelLoader subclass or 'module:Class'")
        if not self.extends and not self.hub and not self.path and self.build is None:
            out.append(
                f"model {self.name!r}: give hub ids (hub={{'huggingface': ...}}), a local path or a build function"
            )
        for hub in self.hub:
            if hub not in HUBS:
                out.append(f"model {self.name!r}: unknown hub {hub!r} (use {', '.join(HUBS)})")
        if self.dtype not in (None, "bf16", "fp16", "fp32"):
            out.append(f"model {self.name!r}: dtype must be bf16, fp16 or fp32 (got {self.dtype!r})")
        if not isinstance(self.lora_targets, list):
            out.append(f"model {self.name!r}: lora_targets must be a list of module names")
        return out


@dataclass
class TemplateSpec:
    """A chat template in ms-swift's four-part form (ms-swift's ``register_template``).

    Each part is a list of items: strings (with ``{{SYSTEM}}``, ``{{QUERY}}``, ``{{ROUND0}}``, ``{{ROUND1}}``)
    or token-id lists (``[195]``, ``[["eos_token_id"]]`` style names resolved on the tokenizer).
    ``chat_sep = None`` means the template supports a single turn only.
    """

    #: the catalog name (``template.name`` in run.toml, ``ModelSpec.template``)
    name: str
    #: emitted once at the start of a conversation (``{{SYSTEM}}`` is the system prompt)
    prefix: list[Any] = field(default_factory=list)
    #: each user turn (``{{QUERY}}``; ``{{ROUND0}}`` / ``{{ROUND1}}`` count turns); the answer follows it
    prompt: list[Any] = field(default_factory=list)
    #: between an answer and the next user turn; None = the template supports a single turn only
    chat_sep: list[Any] | None = field(default_factory=list)
    #: after each answer (trained on: usually the eos, ``[["eos_token_id"]]``)
    suffix: list[Any] = field(default_factory=list)
    #: the template's own default system prompt (None = the run's ``template.system``)
    system: str | None = None
    #: strings that end generation besides the tokenizer's eos
    stop_words: list[str] = field(default_factory=list)
    #: ``jinja`` templates render with the tokenizer's own chat_template (the parts are then unused)
    kind: str = "parts"
    #: free-form tags shown by ``ftcore templates``
    tags: list[str] = field(default_factory=list)
    #: one line shown by ``ftcore templates``
    description: str = ""
    #: known, documented differences from the model's official chat_template (used by ``template check``)
    known_differences: list[str] = field(default_factory=list)
    #: name of a template whose fields this spec inherits where it leaves them unset
    extends: str | None = None
    #: the class that encodes with this spec: a :class:`ftcore.templates.Template` subclass, or a
    #: ``"module:Class"`` string imported only when the template is built (so declaring specs stays light).
    #: None: :class:`~ftcore.templates.Template` (``kind = "parts"``) or ``JinjaTemplate`` (``kind = "jinja"``).
    template_class: type | str | None = None
    #: filled in by the registry: the distribution that registered the spec
    plugin: str = ""

    def problems(self) -> list[str]:
        out = _check_name("template", self.name) + _type_problems("template", self)
        if out:
            return out
        tc = self.template_class
        if tc is not None and not isinstance(tc, type) and not _is_dotted(tc):
            out.append(f"template {self.name!r}: template_class must be a class or a 'module:Class' string "
                       f"(got {tc!r})")
        if self.kind not in ("parts", "jinja", "custom"):
            out.append(f"template {self.name!r}: kind must be 'parts', 'jinja' or 'custom'")
        if self.kind == "parts" and not self.prompt and not self.extends:
            out.append(f"template {self.name!r}: prompt must not be empty")
        for part in ("prefix", "prompt", "suffix", "chat_sep"):
            value = getattr(self, part)
            if value is None and part == "chat_sep":
                continue
            if not isinstance(value, list):
                out.append(f"template {self.name!r}: {part} must be a list of strings / token-id lists")
                continue
            for item in value:
                if not isinstance(item, (str, list)):
                    out.append(f"template {self.name!r}: {part} item {item!r} is neither a string nor a list")
        return out


@dataclass
class DatasetSpec:
    """A dataset the catalog knows by name (ms-swift's ``register_dataset``).

    ``train`` / ``validation`` list the hub subsets and splits as ``"split"`` or ``"subset:split"`` strings.
    ``preprocess`` turns one raw row (a dict) into the normalized form ``{"messages": [...], "images": [...]}``
    or returns None to drop the row; ``get`` replaces loading altogether (ms-swift's get-function) and may
    return one dataset or a (train, validation) pair.
    """

    #: the catalog name (an entry of ``data.datasets`` in run.toml)
    name: str
    #: dataset ids per hub: ``{"modelscope": "AI-ModelScope/alpaca-gpt4-data-en", "huggingface": ...}``
    hub: dict[str, str] = field(default_factory=dict)
    #: the hub splits that train, as ``"split"`` or ``"subset:split"``
    train: list[str] = field(default_factory=lambda: ["train"])
    #: the hub splits that validate (empty: ``data.test_ratio`` of the training rows)
    validation: list[str] = field(default_factory=list)
    #: the hub revision to download; None = the default branch
    revision: str | None = None
    #: files inside the hub repo to load instead of splits (e.g. ``["firefly-train-1.1M.jsonl"]``)
    data_files: list[str] = field(default_factory=list)
    #: a local file or folder: absolute, relative to the working directory (``~`` expanded), or
    #: ``builtin:<file>`` (a file ftcore ships); a ``pathlib.Path`` is accepted and stored as ``str``
    path: str | None = None
    #: rename raw columns before normalization: ``{"prompt": "query", "completion": "response"}``
    columns: dict[str, str] = field(default_factory=dict)
    #: ``preprocess(row) -> {"messages": [...], "images": [...]}`` or None to drop the row; None = the column conventions of docs/data.md
    preprocess: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None
    #: ``get(spec, options, **get_kwargs)`` returns the dataset (or a (train, validation) pair) instead of loading ``hub`` / ``path``
    get: Callable[..., Any] | None = None
    #: keyword arguments ``get`` is called with (ms-swift's ``function_kwargs``)
    get_kwargs: dict[str, Any] = field(default_factory=dict)
    #: rows taken at most from the training set by default (ms-swift's per-dataset ``dataset_sample``)
    sample: int | None = None
    #: ``chat`` | ``text-generation`` | ``classification`` | ``ner`` | ``agent`` | ``multimodal`` ...; ``preference``
    #: (preprocess returns messages + chosen / rejected) and ``kto`` (messages + label) feed the preference stages
    task: str = "chat"
    #: language codes of the rows (``en``, ``zh``): ``ftcore datasets --language`` filters on them
    languages: list[str] = field(default_factory=list)
    #: free-form tags shown by ``ftcore datasets``
    tags: list[str] = field(default_factory=list)
    #: free-form annotations (ms-swift's ``**kwargs``)
    extra: dict[str, Any] = field(default_factory=dict)
    #: one line shown by ``ftcore datasets``
    description: str = ""
    #: name of a dataset whose fields this spec inherits where it leaves them unset
    extends: str | None = None
    #: filled in by the registry: the distribution that registered the spec
    plugin: str = ""

    def __post_init__(self) -> None:
        self.path = _fspath(self.path)
        if isinstance(self.data_files, list):
            self.data_files = [_fspath(f) for f in self.data_files]

    def problems(self) -> list[str]:
        out = _check_name("dataset", self.name) + _type_problems("dataset", self)
        if out:
            return out
        if self.get is not None and not callable(self.get):
            out.append(f"dataset {self.name!r}: get must be callable")
        if not self.hub and not self.path and self.get is None and not self.extends:
            out.append(f"dataset {self.name!r}: give hub ids, a local path or a get function")
        for hub in self.hub:
            if hub not in HUBS:
                out.append(f"dataset {self.name!r}: unknown hub {hub!r} (use {', '.join(HUBS)})")
        if self.preprocess is not None and not callable(self.preprocess):
            out.append(f"dataset {self.name!r}: preprocess must be callable")
        return out


@dataclass
class TunerSpec:
    """A tuning method the catalog knows by name (``tuner.method``), registered through ``register_tuners``.

    ``apply`` and ``options`` may be ``"module:attribute"`` strings: they are imported only when a run uses the
    method, so listing the catalog (``ftcore tuners``) never imports peft or torch.
    """

    #: the method's name: the value of ``tuner.method`` in run.toml
    name: str
    #: ``apply(model, options: TunerOptions) -> model``: the model to train (wrapped, or with parameters frozen)
    apply: Callable[..., Any] | str
    #: a pydantic model class (or ``"module:Class"``) that validates the method's ``[tuner]`` keys; None = the
    #: method takes no keys besides ``method``
    options: Any = None
    #: the learning rate of ``train.lr = "auto"``
    default_lr: float = 1e-4
    #: the result is an adapter that ``ftcore merge`` can fold into the base model
    supports_merge: bool = False
    #: trains on a quantized base model (``model.quantization``)
    supports_quantized: bool = False
    #: works with DeepSpeed ZeRO-3 (partitioned parameters)
    supports_zero3: bool = True
    #: ``tuner.targets`` is resolved against the model (``auto`` / ``all`` / list) for this method
    needs_targets: bool = False
    #: free-form tags shown by ``ftcore tuners``
    tags: list[str] = field(default_factory=list)
    #: one line shown by ``ftcore tuners``
    description: str = ""
    #: filled in by the registry: the distribution that registered the spec
    plugin: str = ""

    def problems(self) -> list[str]:
        out = _check_name("tuner", self.name) + _type_problems("tuner", self)
        if out:
            return out
        if not (callable(self.apply) or _is_dotted(self.apply)):
            out.append(f"tuner {self.name!r}: apply must be callable or a 'module:function' string")
        if self.options is not None and not (isinstance(self.options, type) or _is_dotted(self.options)):
            out.append(f"tuner {self.name!r}: options must be a pydantic model class or a 'module:Class' string")
        if isinstance(self.default_lr, bool) or not isinstance(self.default_lr, (int, float)) or self.default_lr <= 0:
            out.append(f"tuner {self.name!r}: default_lr must be a number > 0 (got {self.default_lr!r})")
        return out

    def apply_function(self) -> Callable[..., Any]:
        """``apply``, imported if it was given as ``"module:function"``."""
        return resolve_object(self.apply, f"tuner {self.name!r}: apply")  # type: ignore[no-any-return]

    def options_model(self) -> Any:
        """The options model class (imported if given as ``"module:Class"``), or None."""
        return None if self.options is None else resolve_object(self.options, f"tuner {self.name!r}: options")


#: the data schemas a stage may need (``StageSpec.data``): the normalized row forms of docs/alignment.md
STAGE_DATA = ("sft", "preference", "kto")


@dataclass
class StageSpec:
    """A training stage (``train.stage``), registered through ``register_stages``. ``recipe`` and ``options`` may
    be ``"module:Class"`` strings, imported only when a run uses the stage (``ftcore stages`` imports no torch)."""

    #: the stage's name: the value of ``train.stage`` and the name of its options table in run.toml (``[dpo]``)
    name: str
    #: the :class:`~ftcore.training.recipe.Recipe` subclass that runs the stage, or ``"module:Class"``
    recipe: type | str
    #: a pydantic model class (or ``"module:Class"``) validating the stage's ``[<name>]`` table; None = no table
    options: Any = None
    #: the rows it trains on: ``sft`` (messages), ``preference`` (+ chosen / rejected), ``kto`` (+ label)
    data: str = "sft"
    #: the stage compares against a reference model (dpo, kto): ``reference`` / ``precompute_ref`` apply
    uses_reference: bool = False
    #: free-form tags shown by ``ftcore stages``
    tags: list[str] = field(default_factory=list)
    #: one line shown by ``ftcore stages``
    description: str = ""
    #: filled in by the registry: the distribution that registered the spec
    plugin: str = ""

    def problems(self) -> list[str]:
        out = _check_name("stage", self.name) + _type_problems("stage", self)
        for what in ("recipe", "options"):
            value = getattr(self, what)
            if not (isinstance(value, type) or _is_dotted(value) or (what == "options" and value is None)):
                out.append(f"stage {self.name!r}: {what} must be a class or a 'module:Class' string")
        if self.data not in STAGE_DATA:
            out.append(f"stage {self.name!r}: data must be one of {', '.join(STAGE_DATA)} (got {self.data!r})")
        return out

    def options_model(self) -> Any:
        """The options model class (imported if given as ``"module:Class"``), or None."""
        return None if self.options is None else resolve_object(self.options, f"stage {self.name!r}: options")

    def recipe_class(self) -> Any:
        """The recipe class (imported if given as ``"module:Class"``); a :class:`PluginError` if that fails."""
        return resolve_object(self.recipe, f"stage {self.name!r}: recipe")


#: ``"module:attribute"`` (a lazily imported object)
_DOTTED_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def _is_dotted(value: Any) -> bool:
    return isinstance(value, str) and _DOTTED_RE.match(value) is not None


def resolve_object(value: Any, what: str) -> Any:
    """``value`` itself, or the object a ``"module:attribute"`` string names (imported now)."""
    if not isinstance(value, str):
        return value
    module_name, _, attr = value.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise PluginError(f"{what}: cannot import {value!r}: {type(exc).__name__}: {exc}") from exc
    return obj


def resolve_template_class(spec: TemplateSpec) -> type | None:
    """``spec.template_class`` as a class (a ``"module:Class"`` string is imported now); None when unset."""
    tc = spec.template_class
    if tc is None or isinstance(tc, type):
        return tc
    obj = resolve_object(tc, f"template {spec.name!r}: template_class")
    if not isinstance(obj, type):
        raise PluginError(f"template {spec.name!r}: template_class {tc!r} is not a class")
    return obj


def spec_to_dict(spec: Any) -> dict[str, Any]:
    """A JSON-friendly view of a spec (callables shown by qualified name)."""
    return {f.name: f"{getattr(v, '__module__', '?')}.{getattr(v, '__qualname__', repr(v))}" if callable(
        v := getattr(spec, f.name)) else v for f in fields(spec)}
