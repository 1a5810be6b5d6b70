"""``ftcore export CKPT --to FORMAT``: a checkpoint as a deployable model folder.

One pass for every format: check the format and quantization (before anything loads) → the model folder (a LoRA
checkpoint merged into its base with :func:`ftcore.inference.merge_lora`, full weights as they are) → the run's
template and its jinja chat_template (checked to encode like ftcore) → the format's writer, into a temporary folder
→ README.md (the model card) → renamed into place. A failed export leaves no half-written output.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftcore.errors import FtcoreError

FORMATS = ("gguf", "ollama", "safetensors", "bnb", "gptq", "awq")
BNB_QUANTS = ("nf4", "fp4", "int8")
GPTQ_QUANTS = ("int4", "int8")
AWQ_QUANTS = ("int4",)
#: what ``--quant`` means when not given
DEFAULT_QUANT = {"gguf": "f16", "ollama": "q8_0", "bnb": "nf4", "gptq": "int4", "awq": "int4", "safetensors": None}
_ALIASES = {"4bit": "nf4", "8bit": "int8"}


@dataclass
class ExportSource:
    """What a format writer gets: the complete model folder and the run it came from."""

    ckpt: Path
    model_dir: Path
    cfg: Any
    template: Any
    tokenizer: Any
    chat_template: str
    base_dir: str | None
    allow_plugins: bool = False


def check_format(to: str, quant: str | None) -> str | None:
    """The quantization ``--quant`` names for format ``to`` (its default when None), or a one-line error."""
    if to not in FORMATS:
        raise FtcoreError(f"--to {to}: not an export format (use one of {', '.join(FORMATS)})")
    q = (quant or DEFAULT_QUANT[to] or "").lower()
    if quant is None and to not in ("gguf", "ollama"):
        return DEFAULT_QUANT[to]
    if to in ("gguf", "ollama"):
        from ftcore.export.to_gguf import check_quant

        return check_quant(q)
    if to == "safetensors":
        raise FtcoreError(f"--quant {quant}: safetensors exports the merged weights unquantized (for 4/8-bit use "
                          "--to bnb, gptq or awq; for llama.cpp --to gguf)")
    if to == "bnb":
        q = _ALIASES.get(q, q)
        allowed: tuple[str, ...] = BNB_QUANTS
    else:
        q = {"4bit": "int4", "8bit": "int8"}.get(q, q)
        allowed = GPTQ_QUANTS if to == "gptq" else AWQ_QUANTS
    if q not in allowed:
        raise FtcoreError(f"--quant {quant}: --to {to} supports {', '.join(allowed)}")
    return q


def default_out(ckpt: Path, to: str, quant: str | None) -> Path:
    """``<ckpt>-<format>[-<quant>]`` next to the checkpoint."""
    return ckpt.parent / f"{ckpt.name}-{to}" if not quant else ckpt.parent / f"{ckpt.name}-{to}-{quant}"


def export_checkpoint(
    ckpt: str | os.PathLike[str],
    to: str,
    out: str | os.PathLike[str] | None = None,
    *,
    quant: str | None = None,
    max_shard_size: str = "5GB",
    calib_dataset: str | None = None,
    calib_samples: int = 128,
    dequantize: bool = False,
    overwrite: bool = False,
    allow_plugins: bool = False,
    command: str | None = None,
) -> Path:
    """Export checkpoint ``ckpt`` as format ``to`` into ``out`` (default: :func:`default_out`); returns the folder.

    ``quant``: the format's quantization (see docs/export.md); ``max_shard_size``: safetensors shard size;
    ``calib_dataset`` / ``calib_samples``: GPTQ / AWQ calibration rows (default: the run's validation data);
    ``dequantize``: merge a QLoRA adapter into the full-precision base; ``command``: the command line the model
    card records (default: rebuilt from the arguments)."""
    from ftcore.inference.checkpoint import checkpoint_config, resolve_checkpoint

    q = check_format(to, quant)
    from ftcore.export.quantized import PACKAGES, require

    if to in PACKAGES:  # a missing quantizer is found before anything loads
        require(to)
    path = resolve_checkpoint(ckpt)
    cfg = checkpoint_config(path)
    target = Path(out) if out else default_out(path, to, q)
    if target.exists() and not overwrite:
        raise FtcoreError(f"{target} exists; pass --overwrite to replace it, or choose another --out")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".tmp-{target.name}"
    work = target.parent / f".tmp-{target.name}-work"
    for folder in (staging, work):
        shutil.rmtree(folder, ignore_errors=True)
    staging.mkdir()
    if command is None:
        command = shlex.join(["ftcore", "export", os.fspath(ckpt), "--to", to] + (["--quant", q] if q else []))
    try:
        source = prepare_source(path, cfg, work, dequantize=dequantize, allow_plugins=allow_plugins,
                                check=_gguf_check if to in ("gguf", "ollama") else None)
        usage = write_format(to, q, source, staging, max_shard_size=max_shard_size, calib_dataset=calib_dataset,
                             calib_samples=calib_samples)
        from ftcore.export.card import model_card

        (staging / "README.md").write_text(
            model_card(source.cfg, path, fmt=to, quant=q, command=command, base_dir=source.base_dir, usage=usage),
            encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    print(f"export: saved {target}", file=sys.stderr)
    return target


def _gguf_check(model_dir: Path) -> None:
    import json

    from ftcore.export.to_gguf import check_architecture

    config = model_dir / "config.json"
    if config.is_file():
        check_architecture(json.loads(config.read_text(encoding="utf-8")))


def prepare_source(path: Path, cfg: Any, work: Path, *, dequantize: bool = False, allow_plugins: bool = False,
                   check: Callable[[Path], None] | None = None) -> ExportSource:
    """The complete model folder for ``path`` (a LoRA checkpoint merged into ``work``) and the run's template.

    ``check(folder)`` sees the folder with the model's config.json first (the base model's for a LoRA checkpoint),
    so that a format refuses an architecture before anything is merged."""
    from transformers import AutoTokenizer

    from ftcore.export.chat import check_chat_template, jinja_chat_template
    from ftcore.inference.checkpoint import (
        checkpoint_plugins,
        full_weights_spec,
        is_adapter,
        template_for,
    )

    base_dir: str | None
    if is_adapter(path):
        from ftcore.inference.merge import merge_lora
        from ftcore.models import resolve_model

        if allow_plugins:  # else merge_lora says once that the run's plugin files are not loaded
            checkpoint_plugins(cfg, path, allow_plugins)
        base_dir = resolve_model(cfg)[1]
        if check is not None:
            check(Path(base_dir))
        model_dir = merge_lora(path, work / "merged", dequantize=dequantize, overwrite=True,
                               allow_plugins=allow_plugins)
    else:
        if not any(path.glob("*.safetensors")):
            raise FtcoreError(f"{path}: no adapter and no *.safetensors weights; nothing to export")
        checkpoint_plugins(cfg, path, allow_plugins)
        if check is not None:
            check(path)
        model_dir = path
        base_dir = cfg.model.path if cfg.model.path and Path(str(cfg.model.path)).is_dir() else None
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    template = template_for(cfg, tokenizer, full_weights_spec(cfg, model_dir))
    chat_template = jinja_chat_template(template)
    check_chat_template(template, chat_template)
    return ExportSource(ckpt=path, model_dir=Path(model_dir), cfg=cfg, template=template, tokenizer=tokenizer,
                        chat_template=chat_template, base_dir=base_dir, allow_plugins=allow_plugins)


def write_format(to: str, quant: str | None, source: ExportSource, dest: Path, **options: Any) -> str:
    """Write format ``to`` into ``dest``; returns the model card's usage section."""
    if to == "gguf":
        f = write_gguf_file(source, dest, quant or "f16")
        return f"Run it with llama.cpp: `llama-cli -m {f.name} -cnv` (the chat template is in the file)."
    if to == "ollama":
        from ftcore.export.ollama import write_ollama

        return write_ollama(source, dest, quant or "q8_0", write_gguf_file)
    if to == "safetensors":
        from ftcore.export.hf import write_safetensors

        return write_safetensors(source, dest, max_shard_size=options["max_shard_size"])
    if to == "bnb":
        from ftcore.export.hf import write_bnb

        return write_bnb(source, dest, quant or "nf4")
    from ftcore.export.quantized import write_quantized

    return write_quantized(to, source, dest, quant or "int4", calib_dataset=options["calib_dataset"],
                           calib_samples=options["calib_samples"])


def stop_ids(source: ExportSource) -> tuple[int | None, int | None]:
    """``(eos, eot)``: the tokenizer's eos and the template's end-of-turn token (its first stop word)."""
    from ftcore.templates.parts import single_token_id

    tok = source.tokenizer
    words = source.template.stop_words
    return tok.eos_token_id, single_token_id(tok, words[0]) if words else None


def write_gguf_file(source: ExportSource, dest: Path, quant: str) -> Path:
    from ftcore.export.card import base_license
    from ftcore.export.to_gguf import write_gguf

    eos, eot = stop_ids(source)
    m = source.cfg.model
    name = m.name or m.repo or Path(str(m.path)).name
    lic = base_license(source.base_dir)
    return write_gguf(source.model_dir, dest / f"model-{quant}.gguf", quant, chat_template=source.chat_template,
                      eos_id=eos, eot_id=eot, name=name, license=None if lic == "other" else lic)
