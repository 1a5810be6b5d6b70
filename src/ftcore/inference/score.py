"""Reward-model checkpoints (``train.stage = "rm"``): how they load and how they score text.

A reward model is the run's backbone with a one-output classification head (transformers'
``AutoModelForSequenceClassification``, ``num_labels = 1``; with LoRA the head is trained in full and saved with
the adapter). :func:`reward_spec` turns the run's model spec into that; :func:`~ftcore.inference.load_checkpoint`
applies it to every checkpoint whose run was an ``rm`` stage, so ``ftcore infer --score`` and ``ftcore merge``
read RM checkpoints without anything else to say. :func:`score` is one reward per input: a prompt + answer pair is
encoded with the run's template exactly as the pairs were in training; a bare text is tokenized as is.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ftcore.errors import FtcoreError

#: the transformers Auto class of a reward model
REWARD_AUTO_CLASS = "AutoModelForSequenceClassification"


def reward_spec(spec: Any) -> Any:
    """``spec`` loading as a one-output sequence classifier (the family's loader still applies)."""
    return dataclasses.replace(spec, auto_class=REWARD_AUTO_CLASS, loader_kwargs={**spec.loader_kwargs,
                                                                                  "num_labels": 1})


def is_reward_run(cfg: Any) -> bool:
    return getattr(cfg.train, "stage", "sft") == "rm"


def set_pad_token(model: Any, tokenizer: Any) -> None:
    """The classifier reads the reward at the last non-pad token: its config must know the pad id."""
    config = getattr(model, "config", None)
    if config is not None and getattr(config, "pad_token_id", None) is None:
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        config.pad_token_id = pad


def score_ids(item: Any, tokenizer: Any, template: Any) -> list[int]:
    """The token ids one input is scored on: ``{"prompt", "answer"}`` / ``{"messages": [..., assistant]}`` through
    the template (prompt + answer + turn end, as trained), ``{"text"}`` or a string tokenized as is."""
    if isinstance(item, str):
        item = {"text": item}
    if not isinstance(item, dict):
        raise FtcoreError(f"score input {item!r}: expected text, {{prompt, answer}}, {{messages}} or {{text}}")
    if "messages" in item or "prompt" in item:
        messages = item.get("messages") or [{"role": "user", "content": str(item["prompt"])},
                                            {"role": "assistant", "content": str(item.get("answer", ""))}]
        enc = template.encode(messages)
        labels = list(enc["labels"])
        last = max((i for i, lab in enumerate(labels) if lab != -100), default=len(labels) - 1)
        return list(enc["input_ids"])[: last + 1]  # through the answer's turn end, as the pairs were encoded
    if "text" in item:
        return list(tokenizer(str(item["text"]), add_special_tokens=False)["input_ids"])
    raise FtcoreError(f"score input {item!r}: needs 'text', 'prompt' + 'answer' or 'messages'")


def score(model: Any, tokenizer: Any, template: Any, items: list[Any], *, batch_size: int = 8) -> list[float]:
    """One reward per input (see :func:`score_ids`), in order."""
    import torch

    set_pad_token(model, tokenizer)
    pad = model.config.pad_token_id
    device = next(model.parameters()).device
    out: list[float] = []
    for start in range(0, len(items), batch_size):
        rows = [score_ids(item, tokenizer, template) for item in items[start:start + batch_size]]
        width = max(len(r) for r in rows)
        ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows], device=device)
        mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows], device=device)
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=mask).logits
        out += logits.reshape(len(rows), -1)[:, 0].float().tolist()
    return out


__all__ = ["REWARD_AUTO_CLASS", "is_reward_run", "reward_spec", "score", "score_ids", "set_pad_token"]
