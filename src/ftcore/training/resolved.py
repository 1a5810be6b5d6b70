"""``ResolvedRun``: every value a run decides at run time, in one frozen record.

A run file says ``lr = "auto"``, ``packing = "auto"``, ``targets = "auto"``, ``dtype = "auto"``, leaves the template
and ``only_save_model`` unset and ``qlora`` without ``quantization.bits``. The recipe's steps decide each of them
(some only once the model is loaded) and record the decision here with :meth:`ResolvedRun.replace`, which returns
a new record; :attr:`ResolvedRun.config` is a copy of the user's config with the decisions written in (the steps
read it), and :meth:`ResolvedRun.to_toml` is the run.toml written into the run folder and every checkpoint.
The user's :class:`~ftcore.config.RunConfig` is never changed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from ftcore.config import RunConfig

__all__ = ["ResolvedRun", "resolve_run"]


@dataclass(frozen=True)
class ResolvedRun:
    """The run as it ran. Fields left ``None`` are not decided yet (the step that decides them has not run)."""

    #: a copy of the user's config with every decided value written in; never the user's object
    config: RunConfig = field(repr=False)
    #: the training stage (``sft`` …)
    stage: str = "sft"
    #: learning rate (``train.lr = "auto"``: the tuner's default)
    lr: float = 0.0
    #: checkpoints hold weights only (``train.only_save_model`` unset: true for full and DeepSpeed runs)
    only_save_model: bool = False
    #: bitsandbytes bits the model loads with (``qlora`` without ``model.quantization.bits``: 4)
    quantization_bits: int = 0
    #: the model's catalog name (or the ad-hoc name of a folder / hub id) and its local folder
    model_name: str | None = None
    model_dir: str | None = None
    #: mixed-precision dtype of the run, and the dtype the weights load in (fp32 for full fine-tuning in fp16)
    dtype: str | None = None
    load_dtype: str | None = None
    #: the template the data was encoded with
    template_name: str | None = None
    #: whether samples are packed into rows (``data.packing = "auto"`` decided against the model)
    packing: bool | None = None
    #: the modules the tuner wraps (``tuner.targets`` resolved against the model)
    targets: tuple[str, ...] | None = None

    def replace(self, **changes: Any) -> ResolvedRun:
        """A new record with ``changes``; the config copy is updated to match (a new copy, too)."""
        record = dataclasses.replace(self, **changes)
        return dataclasses.replace(record, config=_written_in(self.config, record))

    def run_dict(self) -> dict[str, Any]:
        """The config as it ran, as a dict: decided values in, paths absolute (a checkpoint's copy works anywhere)."""
        cfg = self.config
        data = cfg.model_dump(mode="json", exclude_none=True)
        if cfg.model.path:
            data["model"]["path"] = _absolute(cfg, cfg.model.path)
        if cfg.model.cache_dir:
            data["model"]["cache_dir"] = _absolute(cfg, cfg.model.cache_dir)
        data["plugins"] = [_absolute(cfg, p) for p in cfg.plugins]
        for section in ("datasets", "validation"):
            for entry in data["data"].get(section, []):
                if isinstance(entry, dict) and entry.get("path") and not str(entry["path"]).startswith("builtin:"):
                    entry["path"] = _absolute(cfg, entry["path"])
        from ftcore.redact import redact_mapping

        return redact_mapping(data)  # hub.token is excluded by the config; any other secret-named value too

    def to_toml(self) -> str:
        """run.toml of the run folder and its checkpoints (None values omitted: TOML has no null)."""
        from ftcore.config import dict_to_toml

        return dict_to_toml(self.run_dict())


def _absolute(cfg: RunConfig, value: str) -> str:
    return str(Path(cfg.resolve_path(value)).resolve())


def _written_in(config: RunConfig, record: ResolvedRun) -> RunConfig:
    """A copy of ``config`` holding the decided values of ``record``."""
    cfg = config.model_copy(deep=True)
    cfg.train.lr = record.lr
    cfg.train.only_save_model = record.only_save_model
    cfg.model.quantization.bits = record.quantization_bits  # type: ignore[assignment]  # 0, 4 or 8
    if record.dtype is not None:
        cfg.model.dtype = record.dtype  # type: ignore[assignment]  # bf16, fp16 or fp32
    if record.template_name is not None:
        cfg.template.name = record.template_name
    if record.packing is not None:
        cfg.data.packing = record.packing
    if record.targets is not None and record.targets:
        cfg.tuner.targets = list(record.targets)
    return cfg


def resolve_run(config: RunConfig, stage: str = "sft") -> ResolvedRun:
    """The values decided from the config alone (lr, only_save_model, quantization); the rest follow in the steps."""
    from ftcore.tuners import default_lr

    t = config.train
    lr = default_lr(config.tuner.method) if t.lr == "auto" else float(t.lr)
    only_save_model = t.only_save_model
    if only_save_model is None:
        only_save_model = config.tuner.method == "full" or bool(t.deepspeed)
    bits = int(config.model.quantization.bits)
    if config.tuner.method == "qlora" and not bits:
        bits = 4  # QLoRA is LoRA on a 4-bit model unless the run file says 8
    record = ResolvedRun(config=config, stage=stage, lr=lr, only_save_model=bool(only_save_model),
                         quantization_bits=bits)
    return dataclasses.replace(record, config=_written_in(config, record))
