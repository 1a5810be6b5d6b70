"""Merging a LoRA checkpoint into its base model: ``ftcore merge CKPT`` / ``ftcore infer CKPT --merge`` (ms-swift's
``merge_lora_and_save``).

The base model is loaded unquantized on the CPU in the run's dtype, the adapter attached and merged
(``merge_and_unload``), and the complete model saved as ``<ckpt>-merged`` next to the checkpoint: safetensors
weights, config, generation config, tokenizer (with its chat template), ``configuration.json`` if the checkpoint has
one, and ``ftcore_run.toml`` marking the run ``tuner.method = "full"`` so inference loads it as full weights.

A QLoRA checkpoint (base quantized to 4/8 bits) is refused unless ``dequantize=True`` (``--dequantize``): the
adapter was trained against the quantized weights, and merging it into the full-precision base (what ms-swift does,
with a warning) gives a model whose outputs differ slightly from the quantized base + adapter. Merging into the
quantized weights themselves is not possible (they are not ordinary tensors).
"""

from __future__ import annotations

import os
import shutil
import sys
import warnings
from pathlib import Path
from typing import Any

from ftcore.errors import FtcoreError

COPIED_FILES = ("generation_config.json", "configuration.json")


class MergeWarning(UserWarning):
    pass


def merged_dir(ckpt: str | os.PathLike[str]) -> Path:
    """``<ckpt>-merged``, next to the checkpoint."""
    p = Path(ckpt)
    return p.parent / f"{p.name}-merged"


def merge_lora(
    ckpt: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    *,
    dequantize: bool = False,
    overwrite: bool = False,
    allow_plugins: bool = False,
) -> Path:
    """Merge the LoRA checkpoint ``ckpt`` into its base model and save the whole model; returns the folder.

    An existing complete output folder is kept as is (ms-swift skips saving), unless ``overwrite``. The run's
    local plugin files load only with ``allow_plugins``.
    """
    from ftcore.inference.checkpoint import RUN_FILE, checkpoint_config, is_adapter, resolve_checkpoint

    path = resolve_checkpoint(ckpt)
    if (path / RUN_FILE).is_file():
        _check_mergeable(path, checkpoint_config(path).tuner.method)
    if not is_adapter(path):
        raise FtcoreError(
            f"{path}: not a LoRA checkpoint (no adapter_config.json); full weights need no merge"
        )
    cfg = checkpoint_config(path)
    bits = cfg.model.quantization.bits
    if bits or cfg.tuner.method == "qlora":
        if not dequantize:
            raise FtcoreError(
                f"{path}: the base model was loaded {bits or 4}-bit quantized (QLoRA); LoRA weights cannot be "
                "merged into quantized weights. Use --dequantize to merge into the full-precision base instead "
                "(outputs then differ slightly from the quantized base + adapter)"
            )
        warnings.warn(
            f"merging a {bits or 4}-bit (QLoRA) adapter into the unquantized base: expect small output differences",
            MergeWarning,
            stacklevel=2,
        )
    target = Path(out) if out else merged_dir(path)
    if (target / "config.json").is_file() and not overwrite:
        print(f"merge: {target} exists; kept", file=sys.stderr)
        return target

    from ftcore.inference.checkpoint import checkpoint_plugins
    from ftcore.models import load, resolve_model

    cfg.model.quantization.bits = 0
    cfg.model.device_map = None
    checkpoint_plugins(cfg, path, allow_plugins)
    spec, model_dir = resolve_model(cfg)
    from ftcore.inference.score import is_reward_run, reward_spec, set_pad_token

    if is_reward_run(cfg):  # a reward model merges onto its sequence classifier (head included)
        spec = reward_spec(spec)
    base, tokenizer = load(cfg, spec, model_dir)
    if is_reward_run(cfg):
        set_pad_token(base, tokenizer)
    from peft import PeftModel

    from ftcore.models.compat import quiet_peft_deprecations

    with quiet_peft_deprecations():
        model = PeftModel.from_pretrained(base, str(path), is_trainable=False)
    model = model.merge_and_unload()
    model = getattr(model, "module", model)
    staging = target.parent / f".tmp-{target.name}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    model.save_pretrained(str(staging), safe_serialization=True)
    tokenizer.save_pretrained(str(staging))
    for name in COPIED_FILES:
        if (path / name).is_file():
            shutil.copy2(path / name, staging / name)
    from ftcore.models import copy_processor_files

    copy_processor_files(path, staging)  # a multimodal model's image processor (the checkpoint has a copy)
    copy_processor_files(model_dir, staging)
    (staging / RUN_FILE).write_text(
        _full_run_toml(path / RUN_FILE if (path / RUN_FILE).is_file() else None, cfg), encoding="utf-8"
    )
    if target.exists():
        shutil.rmtree(target)
    os.replace(staging, target)
    print(f"merge: saved {target}", file=sys.stderr)
    return target


def _check_mergeable(path: Path, method: str) -> None:
    """A one-line error when the checkpoint's tuning method saves nothing ``merge_and_unload`` can fold in."""
    from ftcore.registry import get_catalog

    tuners = get_catalog().tuners
    if method in tuners and not tuners.get(method).supports_merge:
        raise FtcoreError(
            f"{path}: tuner method {method!r} does not support merging (see: ftcore tuners); "
            "its checkpoint is used as it is"
        )


def _full_run_toml(run_file: Path | None, cfg: Any) -> str:
    """The checkpoint's run config with ``tuner.method = "full"`` and no quantization."""
    from ftcore.config import config_from_dict, config_to_toml

    if run_file is not None:
        import tomllib

        data: dict[str, Any] = tomllib.loads(run_file.read_text(encoding="utf-8"))
    else:
        data = cfg.model_dump(mode="json", exclude_none=True)
    data.setdefault("tuner", {})["method"] = "full"
    data["tuner"]["targets"] = "auto"
    data.setdefault("model", {}).setdefault("quantization", {})["bits"] = 0
    data["model"].pop("device_map", None)
    return config_to_toml(config_from_dict(data, source=str(run_file or "run.toml"), base_dir=cfg.base_dir))


def merge_lora_and_save(ckpt: str | os.PathLike[str], **kwargs: Any) -> Path:
    """ms-swift's name for :func:`merge_lora`."""
    return merge_lora(ckpt, **kwargs)
