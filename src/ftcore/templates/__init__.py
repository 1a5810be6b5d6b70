"""The Template engine, the jinja templates and the fidelity check.

``get_template(name, tokenizer, **settings)`` is the entry point: it looks the template up in the catalog and
asks the plugins' ``build_template`` hook for an encoder (the built-in one builds ``spec.template_class``, else
:class:`Template`, or :class:`JinjaTemplate` for ``kind = "jinja"``). What callers may use on a template is
declared by :class:`TemplateProtocol` / :class:`MultimodalTemplate`. See docs/templates.md.
"""

from __future__ import annotations

from typing import Any

from ftcore.errors import FtcoreError
from ftcore.specs import ModelSpec, TemplateSpec, resolve_template_class
from ftcore.templates.base import DEFAULT_SYSTEM, Template
from ftcore.templates.jinja import JinjaTemplate
from ftcore.templates.messages import IGNORE_INDEX, SkipSample, message_text, split_rounds
from ftcore.templates.protocol import MultimodalTemplate, TemplateProtocol


def build_default_template(spec: TemplateSpec, tokenizer: Any) -> Template:
    """The built-in encoder for a spec: ``spec.template_class.build(spec, tokenizer)`` when the spec names a class,
    else :class:`JinjaTemplate` for ``kind = "jinja"``, else :class:`Template`."""
    cls = resolve_template_class(spec)
    if cls is not None:
        if not issubclass(cls, Template):
            raise FtcoreError(f"template {spec.name!r}: template_class {cls.__qualname__} is not a "
                              "ftcore.templates.Template subclass (or build it in a build_template hook)")
        return cls.build(spec, tokenizer)
    if spec.kind == "jinja":
        return JinjaTemplate(spec, tokenizer)
    if spec.kind != "parts":
        raise FtcoreError(
            f"template {spec.name!r} is of kind {spec.kind!r}; the plugin that registered it must build it "
            "(build_template hook) or name its class (TemplateSpec.template_class)"
        )
    return Template(spec, tokenizer)


def default_template_name(tokenizer: Any, model_spec: ModelSpec | None = None) -> str:
    """The template a model uses when the run names none: its spec's, else ``jinja`` when the tokenizer has a
    chat_template, else ``default``."""
    if model_spec is not None and model_spec.template:
        return model_spec.template
    tok = getattr(tokenizer, "tokenizer", tokenizer) if not hasattr(tokenizer, "chat_template") else tokenizer
    return "jinja" if getattr(tok, "chat_template", None) else "default"


def get_template(
    name: str | None,
    tokenizer: Any,
    *,
    model_spec: ModelSpec | None = None,
    **settings: Any,
) -> Template:
    """A template bound to ``tokenizer`` with ``settings`` (``system``, ``max_length``, ``truncation``,
    ``loss_on``, ``train_on_prompt``, ``parse_special_in_content``).

    ``name`` None picks :func:`default_template_name`. Each call returns a new object.
    """
    from ftcore.plugins import get_plugin_manager
    from ftcore.registry import get_catalog

    if name is None:
        name = default_template_name(tokenizer, model_spec)
    spec = get_catalog().templates.get(name)
    template = get_plugin_manager().hook.build_template(spec=spec, tokenizer=tokenizer)
    if template is None:
        raise FtcoreError(f"no plugin can build template {name!r} (its plugin may be missing)")
    settings = {k: v for k, v in settings.items() if k != "name"}
    return template.configure(**settings)


__all__ = [
    "DEFAULT_SYSTEM",
    "IGNORE_INDEX",
    "JinjaTemplate",
    "MultimodalTemplate",
    "SkipSample",
    "Template",
    "TemplateProtocol",
    "build_default_template",
    "default_template_name",
    "get_template",
    "message_text",
    "split_rounds",
]
