"""What a server serves: the base model, the LoRA adapters on it, and for each served name the Template its run
trained with — so a served prompt (and its stop ids) is token for token the one ``ftcore infer`` and training build.

The positional argument of ``ftcore serve`` is a checkpoint (anything ``ftcore infer`` takes: a checkpoint or run
folder, ``latest:<dir>``, ``best:<dir>``) or a model (a catalog name, a model folder, a hub id). Each ``--adapter
NAME=CKPT`` is a LoRA checkpoint trained on the same base. Path resolution imports nothing heavy.
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftcore.errors import FtcoreError
from ftcore.inference.checkpoint import (
    RUN_DIR_FILE,
    RUN_FILE,
    base_model,
    checkpoint_config,
    is_adapter,
    resolve_checkpoint,
    template_for,
)
from ftcore.inference.generate import build_messages, stop_token_ids

CHECKPOINT_PREFIXES = ("latest:", "latest-last:", "latest-best:", "best:")


@dataclass
class Target:
    """A resolved checkpoint or model: its run config, model spec, the base model's folder and the adapter folder
    (None for full weights or a plain model)."""

    source: str
    cfg: Any
    spec: Any
    model_dir: str
    adapter_dir: str | None = None


@dataclass
class ServedModel:
    """One name in ``/v1/models``: the template and the run's generation defaults it answers with, and the peft
    adapter it runs (None: the base model, adapters off)."""

    id: str
    template: Any
    generation: Any
    adapter: str | None = None
    source: str = ""
    created: int = field(default_factory=lambda: int(time.time()))

    @property
    def stop_ids(self) -> list[int]:
        """Token ids that end an answer: the template's stop ids, then the tokenizer's eos (as ``ftcore infer``)."""
        return stop_token_ids(self.template)

    @property
    def stop_words(self) -> list[str]:
        return [w for w in self.template.stop_words if w]


def _is_checkpoint_text(text: str) -> bool:
    if text in ("latest", "latest-last", "best") or text.startswith(CHECKPOINT_PREFIXES):
        return True
    path = Path(text).expanduser()
    return path.is_dir() and any(
        (path / name).is_file() for name in (RUN_FILE, RUN_DIR_FILE, "checkpoints.json")
    )


def resolve_target(text: str, *, allow_plugins: bool = False) -> Target:
    """The checkpoint or model ``text`` names (see the module docstring); FtcoreError when it names nothing."""
    from ftcore.config import config_from_dict

    if _is_checkpoint_text(text):
        path = resolve_checkpoint(text)
        cfg = checkpoint_config(path)
        spec, model_dir = base_model(cfg, path, allow_plugins=allow_plugins)
        return Target(text, cfg, spec, model_dir, str(path) if is_adapter(path) else None)
    from ftcore.models import resolve_model
    from ftcore.registry import get_catalog

    catalog = get_catalog()
    if Path(text).expanduser().is_dir():
        if is_adapter(text):
            raise FtcoreError(f"{text}: a LoRA adapter without {RUN_FILE}: ftcore cannot tell its base model; "
                              "serve a checkpoint written by ftcore train")
        model: dict[str, str] = {"path": str(Path(text).expanduser().resolve())}
    elif text in catalog.models:
        model = {"name": text}
    elif "/" in text:
        model = {"repo": text}
    else:
        raise FtcoreError(f"{text!r} is neither a checkpoint (folder, latest:<dir>, best:<dir>) nor a model (a catalog "
                          "name, a model folder or a hub id): see `ftcore models`")
    cfg = config_from_dict({"model": model})
    spec, model_dir = resolve_model(cfg, catalog)
    return Target(text, cfg, spec, model_dir)


def parse_adapters(items: Sequence[str]) -> dict[str, str]:
    """``--adapter NAME=CKPT`` values as ``{name: ckpt}``; a malformed or repeated name is an FtcoreError."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, ckpt = item.partition("=")
        name, ckpt = name.strip(), ckpt.strip()
        if not sep or not name or not ckpt:
            raise FtcoreError(f"--adapter {item!r}: write NAME=CKPT (e.g. --adapter support=best:output/support)")
        if name in out:
            raise FtcoreError(f"--adapter {name}: the name is given twice")
        out[name] = ckpt
    return out


def _same_folder(a: str, b: str) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def resolve_all(source: str, adapters: Mapping[str, str], *, allow_plugins: bool = False
                ) -> tuple[Target, dict[str, Target]]:
    """The positional target and each adapter's, checked before anything loads: every adapter is a LoRA checkpoint
    on the positional's base model."""
    main = resolve_target(source, allow_plugins=allow_plugins)
    extra: dict[str, Target] = {}
    for name, ckpt in adapters.items():
        t = resolve_target(ckpt, allow_plugins=allow_plugins)
        if t.adapter_dir is None:
            raise FtcoreError(f"--adapter {name}={ckpt}: not a LoRA checkpoint (full weights or a model); "
                              "serve it with its own `ftcore serve`")
        if not _same_folder(t.model_dir, main.model_dir):
            raise FtcoreError(f"--adapter {name}={ckpt}: trained on {t.model_dir}, but the server's base model is "
                              f"{main.model_dir}; adapters must share the base model")
        extra[name] = t
    return main, extra


def load_transformers(source: str, adapters: Mapping[str, str], *, served_name: str | None = None,
                      device: str | None = None, allow_plugins: bool = False
                      ) -> tuple[Any, Any, dict[str, ServedModel]]:
    """``(model, tokenizer, {served id: ServedModel})``: the base model loaded once with the spec's loader, every
    LoRA adapter on it as a named peft adapter (``load_adapter``), each served id with its run's template."""
    from ftcore.models import load
    from ftcore.models.compat import quiet_peft_deprecations

    main, extra = resolve_all(source, adapters, allow_plugins=allow_plugins)
    model, tokenizer = load(main.cfg, main.spec, main.model_dir)
    name = served_name or source
    if name in extra:
        raise FtcoreError(f"--adapter {name}: the name is already the served name of {source}")
    dirs = ([("a0", main.adapter_dir)] if main.adapter_dir else []) + [
        (f"a{i + 1}", t.adapter_dir) for i, t in enumerate(extra.values())
    ]
    for i, (peft_name, adapter_dir) in enumerate(dirs):
        assert adapter_dir is not None
        if i == 0:
            from peft import PeftModel

            with quiet_peft_deprecations():
                model = PeftModel.from_pretrained(model, adapter_dir, adapter_name=peft_name, is_trainable=False)
        else:
            with quiet_peft_deprecations():
                model.load_adapter(adapter_dir, adapter_name=peft_name, is_trainable=False)
    model.eval()
    _place(model, device)
    served = {name: ServedModel(name, template_for(main.cfg, tokenizer, main.spec), main.cfg.generation,
                                "a0" if main.adapter_dir else None, source)}
    for i, (adapter_name, t) in enumerate(extra.items()):
        served[adapter_name] = ServedModel(adapter_name, template_for(t.cfg, tokenizer, t.spec), t.cfg.generation,
                                           f"a{i + 1}", t.source)
    return model, tokenizer, served


def _place(model: Any, device: str | None) -> None:
    if getattr(model, "hf_device_map", None) and device is None:
        return
    import torch

    if device is None:
        if not torch.cuda.is_available():
            return
        device = "cuda"
    if not (getattr(model, "is_loaded_in_4bit", False) or getattr(model, "is_loaded_in_8bit", False)):
        model.to(device)


def message_text(content: Any) -> str:
    """The text of an OpenAI message ``content``: a string, or a list of ``{"type": "text", "text": ...}`` parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = []
    for part in content:
        if not isinstance(part, Mapping) or part.get("type") != "text":
            kind = part.get("type") if isinstance(part, Mapping) else type(part).__name__
            raise ValueError(f"content parts of type {kind!r} are not supported (text only)")
        parts.append(str(part.get("text", "")))
    return "".join(parts)


def chat_prompt_ids(served: ServedModel, messages: Sequence[Mapping[str, Any]]) -> list[int]:
    """Prompt ids of an OpenAI ``messages`` list: the last user message after the earlier turns (system prompt
    included), through ``Template.encode_prompt`` — the ids ``ftcore infer`` builds for the same conversation.
    A conversation longer than the template's ``max_length`` raises :class:`PromptTooLong` (ftcore infer would cut
    it; an API refuses it); one the template cannot encode raises ValueError."""
    # OpenAI's "developer" role is its newer name for the system prompt
    turns = [{"role": "system" if m["role"] == "developer" else str(m["role"]), "content": message_text(m.get("content"))}
             for m in messages]
    if not turns or turns[-1]["role"] != "user":
        raise ValueError("the last message must have role 'user'")
    for t in turns:
        if t["role"] not in ("system", "user", "assistant"):
            raise ValueError(f"message role {t['role']!r} is not supported (system, user, assistant)")
    system = turns[0]["content"] if turns[0]["role"] == "system" else None
    history = turns[1:-1] if system is not None else turns[:-1]
    if any(t["role"] == "system" for t in history):
        raise ValueError("a system message may only come first")
    msgs = build_messages(turns[-1]["content"], history, system)
    template = served.template
    try:
        ids = list(template.encode_prompt(msgs))
        limit = template.max_length
        if limit is not None and len(ids) >= limit:  # perhaps cut from the left: refuse rather than answer a part
            whole = copy.copy(template)
            whole.max_length = None
            n = len(whole.encode_prompt(msgs))
            if n > limit:
                raise PromptTooLong(f"the prompt is {n} tokens, more than the {limit} the run trained with "
                                    "(template.max_length; ftcore infer would cut it from the left): shorten the "
                                    "conversation")
        return ids
    except (FtcoreError, PromptTooLong):
        raise
    except Exception as exc:  # SkipSample and friends: a bad conversation, said in one line
        raise ValueError(getattr(exc, "reason", None) or str(exc)) from None


class PromptTooLong(Exception):
    """A conversation longer than the template's ``max_length``."""


def completion_prompt_ids(served: ServedModel, prompt: str) -> list[int]:
    """Prompt ids of a raw ``/v1/completions`` prompt: the text as the tokenizer encodes it (no chat template)."""
    return list(served.template.tokenizer.encode(prompt, add_special_tokens=True))
