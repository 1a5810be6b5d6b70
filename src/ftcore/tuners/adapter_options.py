"""The options every peft adapter method shares (targets, modules_to_save), and how their run keys are read."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ftcore.errors import FtcoreError
from ftcore.specs import TunerOptions
from ftcore.tuners.base import TrainingHooks

__all__ = ["AdapterOptions", "adapter_options"]


class AdapterOptions(TrainingHooks, BaseModel):
    """Keys of every peft adapter method besides LoRA's (its own options model adds the method's keys)."""

    model_config = ConfigDict(extra="forbid")

    targets: str | list[str] = Field("auto", description="auto, all or a list of module names")
    modules_to_save: list[str] = Field(default_factory=list, description="modules trained in full and saved")


def adapter_options(options: TunerOptions, cls: type[AdapterOptions]) -> Any:
    """The method's validated options (its defaults when the options were built by hand), with targets checked."""
    opts = options.method_options if isinstance(options.method_options, cls) else cls()
    if not options.targets:
        raise FtcoreError(f"tuner.targets: no modules to wrap with {options.method} (give a list, or 'all')")
    return opts
