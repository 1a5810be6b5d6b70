"""What the data stage, the collator and inference may call on a template: the template contract.

:class:`TemplateProtocol` is the text contract; :class:`MultimodalTemplate` adds what samples with images need.
:class:`ftcore.templates.Template` implements both with defaults (``takes_images = False``), so a subclass
overrides only what it changes. A template whose ``takes_images`` is True is used as a
:class:`MultimodalTemplate`; nothing else on a template is looked up (see docs/templates.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # pragma: no cover
    from ftcore.specs import TemplateSpec

#: a conversation: ``[{"role": ..., "content": ...}, ...]``
Messages = Sequence[dict[str, Any]]


@runtime_checkable
class TemplateProtocol(Protocol):
    """A text template bound to a tokenizer (training and inference use the same object)."""

    #: the catalog entry it encodes with (``spec.name`` names the template in run.toml and logs)
    spec: TemplateSpec
    #: the tokenizer (a processor's ``.tokenizer``); part of the data cache key
    tokenizer: Any
    #: strings that end generation
    stop_words: list[str]
    #: token ids that end generation besides the tokenizer's eos
    stop_token_ids: list[int]

    @property
    def supports_multi_turn(self) -> bool:
        """Whether earlier rounds may be passed (False: single-turn templates; chat keeps no history)."""
        ...

    @property
    def takes_images(self) -> bool:
        """Whether the template uses a row's images (then it is a :class:`MultimodalTemplate`)."""
        ...

    def encode(self, messages: Messages, images: Any = None) -> dict[str, Any]:
        """``{"input_ids", "labels", ...}`` of one conversation; raises ``SkipSample`` for an unusable one."""
        ...

    def encode_batch(self, conversations: Sequence[Messages], images: Any = None) -> list[Any]:
        """Many conversations at once; an unusable one yields its ``SkipSample`` in place (nothing raised)."""
        ...

    def encode_prompt(self, messages: Messages) -> list[int]:
        """The generation prompt: the conversation and an open assistant turn."""
        ...

    def fingerprint(self) -> str:
        """A hash of everything that decides the encoding except the tokenizer (the data cache key)."""
        ...


@runtime_checkable
class MultimodalTemplate(TemplateProtocol, Protocol):
    """A template that takes images (``takes_images`` is True)."""

    #: the placeholder marking where an image goes in a user turn (e.g. ``<image>``)
    image_placeholder: str

    def collate(self, features: list[dict[str, Any]]) -> dict[str, Any] | None:
        """A batch of encoded samples with images, or None to let the core's collator pad the text and
        concatenate the pixel inputs."""
        ...

    def encode_prompt_with_images(self, messages: Messages, images: Sequence[Any]) -> dict[str, Any]:
        """The generation prompt with images: ``{"input_ids": [...], <extra model inputs such as pixel_values>}``."""
        ...


__all__ = ["Messages", "MultimodalTemplate", "TemplateProtocol"]
