"""Every hook a plugin can implement: the whole plugin contract, typed and documented.

Plugins mark implementations with ``@ftcore.hookimpl``. The built-in plugin implements the four
first-result hooks with ``trylast=True``, so a family plugin only implements what its family does
differently and returns None for everything else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:  # pragma: no cover - typing only; keeps plugin discovery free of heavy imports
    from ftcore.specs import (
        DatasetOptions,
        DatasetSpec,
        ModelOptions,
        ModelSpec,
        StageSpec,
        TemplateSpec,
        TunerOptions,
        TunerSpec,
    )

PROJECT = "ftcore"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_models(register: Callable[[ModelSpec], None]) -> None:
    """Add models to the catalog.

    Called once, when the catalog is first built (listing, validating or starting a run).

    :param register: call it with a :class:`ftcore.ModelSpec` for each model the plugin provides.
    :returns: nothing. Every plugin's implementation is called (collect all).
    """


@hookspec
def register_templates(register: Callable[[TemplateSpec], None]) -> None:
    """Add chat templates to the catalog.

    Called once, when the catalog is first built.

    :param register: call it with a :class:`ftcore.TemplateSpec` for each template the plugin provides.
    :returns: nothing. Every plugin's implementation is called (collect all).
    """


@hookspec
def register_datasets(register: Callable[[DatasetSpec], None]) -> None:
    """Add datasets to the catalog.

    Called once, when the catalog is first built.

    :param register: call it with a :class:`ftcore.DatasetSpec` for each dataset the plugin provides.
    :returns: nothing. Every plugin's implementation is called (collect all).
    """


@hookspec
def register_tuners(register: Callable[[TunerSpec], None]) -> None:
    """Add tuning methods (values of ``tuner.method``) to the catalog.

    Called once, when the catalog is first built.

    :param register: call it with a :class:`ftcore.TunerSpec` for each method the plugin provides.
    :returns: nothing. Every plugin's implementation is called (collect all).
    """


@hookspec
def register_stages(register: Callable[[StageSpec], None]) -> None:
    """Add training stages (values of ``train.stage``) to the catalog.

    Called once, when the catalog is first built.

    :param register: call it with a :class:`ftcore.StageSpec` for each stage the plugin provides.
    :returns: nothing. Every plugin's implementation is called (collect all).
    """


@hookspec(firstresult=True)
def load_model(spec: ModelSpec, options: ModelOptions) -> tuple[Any, Any] | None:
    """Load the model and tokenizer of ``spec`` from ``options.model_dir``.

    Called once per run (and by ``ftcore infer`` / ``merge`` / ``eval``) after the weights have been
    resolved to a local folder.

    :param spec: the catalog entry (or an ad-hoc spec for a local folder / hub id).
    :param options: dtype, attention implementation, quantization, device map, ``load_model`` (False:
        tokenizer only).
    :returns: ``(model, tokenizer)`` — model is None when ``options.load_model`` is False — or None when this
        plugin does not handle the spec. The first non-None result wins.
    """


@hookspec(firstresult=True)
def build_template(spec: TemplateSpec, tokenizer: Any) -> Any | None:
    """Turn a template spec into an encoder bound to ``tokenizer``.

    Called when a run or ``ftcore template …`` needs a template object.

    :param spec: the template's catalog entry.
    :param tokenizer: the model's tokenizer (or processor).
    :returns: a :class:`ftcore.templates.Template` (or subclass), or None when this plugin does not handle the
        spec. The first non-None result wins.
    """


@hookspec(firstresult=True)
def load_dataset(spec: DatasetSpec, options: DatasetOptions) -> Any | None:
    """Load the raw rows of a dataset.

    Called once per dataset of a run, before normalization to messages.

    :param spec: the dataset's catalog entry (or an ad-hoc spec for a local file).
    :param options: hub preference, sampling, seed, streaming, cache folder.
    :returns: a ``datasets.Dataset`` (or ``IterableDataset``), a ``(train, validation)`` pair, or None when this
        plugin does not handle the spec. The first non-None result wins.
    """


@hookspec(firstresult=True)
def configure_tuner(model: Any, options: TunerOptions) -> Any | None:
    """Prepare ``model`` for training with ``options.method``, overriding the method's registered ``apply``.

    Called once per run after the model is loaded. A new method is added with ``register_tuners``; this hook
    is for a plugin that must tune some models differently. The built-in implementation (tried last) calls
    the ``apply`` of the method's :class:`ftcore.TunerSpec`.

    :param model: the loaded ``transformers.PreTrainedModel``.
    :param options: method (``lora``, ``qlora``, ``full`` …), rank, alpha, dropout, resolved target modules.
    :returns: the model to train (e.g. a ``peft.PeftModel``), or None when this plugin does not own the method.
        The first non-None result wins.
    """
