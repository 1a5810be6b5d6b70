"""Hugging Face folders: ``--to safetensors`` (the merged weights, sharded) and ``--to bnb`` (a bitsandbytes 4-bit /
8-bit model saved by transformers). Both carry the tokenizer with ftcore's chat template, a generation config that
stops at the template's turn end, and ``ftcore_run.toml`` (tuner.method = full), so ``ftcore infer`` serves them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ftcore.errors import FtcoreError


def finish_folder(source: Any, dest: Path) -> None:
    """Tokenizer (chat template set), generation config (eos = the template's stop ids), the run record."""
    from transformers import GenerationConfig

    from ftcore.inference.checkpoint import RUN_FILE
    from ftcore.inference.merge import _full_run_toml
    from ftcore.models import copy_processor_files

    tok = source.tokenizer
    tok.chat_template = source.chat_template
    tok.save_pretrained(str(dest))
    try:
        gen = GenerationConfig.from_pretrained(str(source.model_dir))
    except OSError:  # the model folder has none: one from its config
        from transformers import AutoConfig

        gen = GenerationConfig.from_model_config(AutoConfig.from_pretrained(str(source.model_dir)))
    stops = list(source.template.stop_token_ids)
    if stops:
        gen.eos_token_id = stops if len(stops) > 1 else stops[0]
    gen.save_pretrained(str(dest))
    copy_processor_files(source.model_dir, dest)
    run_file = source.model_dir / RUN_FILE
    (dest / RUN_FILE).write_text(_full_run_toml(run_file if run_file.is_file() else None, source.cfg),
                                 encoding="utf-8")


def _load(source: Any, **kwargs: Any) -> Any:
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(source.model_dir), **kwargs)


def write_safetensors(source: Any, dest: Path, *, max_shard_size: str = "5GB") -> str:
    """The merged model as safetensors shards of at most ``max_shard_size`` (``"500MB"``, ``"5GB"``)."""
    model = _load(source, dtype="auto")
    try:
        model.save_pretrained(str(dest), safe_serialization=True, max_shard_size=max_shard_size)
    except ValueError as exc:
        raise FtcoreError(f"--max-shard-size {max_shard_size}: {exc}") from exc
    finish_folder(source, dest)
    return ("Load it with transformers: `AutoModelForCausalLM.from_pretrained(folder)`; "
            "`tokenizer.apply_chat_template` formats prompts as the model was trained.")


def write_bnb(source: Any, dest: Path, quant: str) -> str:
    """A bitsandbytes model: ``nf4`` / ``fp4`` (4-bit) or ``int8`` (LLM.int8()), quantized on load and saved."""
    import torch
    from transformers import BitsAndBytesConfig

    if quant == "int8":
        qcfg = BitsAndBytesConfig(load_in_8bit=True)
    else:
        qcfg = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type=quant,
                                  bnb_4bit_compute_dtype=torch.bfloat16 if torch.cuda.is_available() else torch.float32)
    device = "cuda:0" if torch.cuda.is_available() else "cpu"
    model = _load(source, quantization_config=qcfg, device_map={"": device})
    model.save_pretrained(str(dest), safe_serialization=True)
    finish_folder(source, dest)
    return (f"A bitsandbytes {quant} model: `AutoModelForCausalLM.from_pretrained(folder)` loads it quantized "
            "(pip install bitsandbytes).")
