"""Inference with a trained checkpoint: load it with the template it was trained with, answer, stream, chat.

    model, tokenizer, template, cfg = load_checkpoint("best:output")
    print(inference(model, template, "who are you?", do_sample=False))  # ftcore.answer(...) is the same function
    for delta in inference_stream(model, template, "and what can you do?"):
        print(delta, end="", flush=True)

Importing this package is light; torch / transformers / peft load when a function needs them.
"""

from __future__ import annotations

from ftcore.inference.batch import generate_batch
from ftcore.inference.checkpoint import (
    attach_adapter,
    base_model,
    checkpoint_config,
    is_adapter,
    load_checkpoint,
    resolve_checkpoint,
    template_for,
)
from ftcore.inference.generate import (
    GENERATION_KEYS,
    StopWordFilter,
    build_messages,
    decode_response,
    generation_settings,
    inference,
    inference_stream,
    stop_token_ids,
)
from ftcore.inference.main import chat_loop, dataset_samples, infer, infer_main

__all__ = [
    "GENERATION_KEYS",
    "StopWordFilter",
    "attach_adapter",
    "base_model",
    "build_messages",
    "chat_loop",
    "checkpoint_config",
    "dataset_samples",
    "decode_response",
    "generate_batch",
    "generation_settings",
    "infer",
    "infer_main",
    "inference",
    "inference_stream",
    "is_adapter",
    "load_checkpoint",
    "resolve_checkpoint",
    "stop_token_ids",
    "template_for",
]

