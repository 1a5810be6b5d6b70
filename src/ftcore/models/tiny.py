"""The embedded quick-start model (``builtin:tiny-qwen2``): a tiny Qwen2-architecture model with random weights and
a small byte-level BPE tokenizer trained on the spot, built into the ftcore cache on first use.

Why not the real Qwen2.5 tokenizer: its 151k-token vocabulary makes the LM head of a 64-wide model cost ~50x the
rest of the network, so a CPU quick start would take many minutes and a LoRA on a random model would barely move.
A 2k-token byte-level vocabulary (any text still tokenizes; ChatML special tokens included) trains in seconds.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

#: bump when the recipe changes, so a cached model of an older recipe is rebuilt
RECIPE = "3"
VOCAB_SIZE = 2048
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHATML_JINJA = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nyou are a helpful assistant!<|im_end|>\\n' }}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def _corpus() -> list[str]:
    bundled = Path(__file__).resolve().parent.parent / "data" / "bundled"
    texts = ["system\nyou are a helpful assistant!", "user\n", "assistant\n", "Who are you?", "你是谁？"]
    for path in sorted(bundled.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            for m in row.get("messages", []):
                texts.append(str(m.get("content", "")))
    return texts


def build_tokenizer(out_dir: str | os.PathLike[str]) -> str:
    """Train the quick-start tokenizer (byte-level BPE, ChatML specials) and save it as a fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>", unk_token=None,
        additional_special_tokens=["<|im_start|>"],
    )
    fast.chat_template = CHATML_JINJA
    fast.model_max_length = 2048
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(out)
    return str(out)


def build_tiny_qwen2(folder: str | os.PathLike[str]) -> str:
    """The quick-start model in ``folder`` (built there, through a temporary folder, when missing or outdated)."""
    from ftcore.testing import build_tiny_model_dir

    folder = Path(folder)
    marker = folder / "ftcore_recipe.txt"
    if marker.is_file() and marker.read_text().strip() == RECIPE and any(folder.glob("*.safetensors")):
        return str(folder)
    tmp = folder.with_name(f".tmp-{folder.name}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tok_dir = build_tokenizer(tmp / "_tokenizer")
    # a wider init than transformers' 0.02: with tied, frozen embeddings (LoRA) logits of a 64-wide model would
    # otherwise stay too flat to ever fit the data (loss stalls near 5.5)
    build_tiny_model_dir(tmp, arch="qwen2", tokenizer_dir=tok_dir, seed=0, initializer_range=0.2)
    shutil.rmtree(tmp / "_tokenizer", ignore_errors=True)
    (tmp / "ftcore_recipe.txt").write_text(RECIPE + "\n")
    folder.parent.mkdir(parents=True, exist_ok=True)
    old = folder.with_name(f".old-{folder.name}-{os.getpid()}")
    if folder.exists():
        os.replace(folder, old)
    try:
        os.replace(tmp, folder)
    except OSError:  # another process built it at the same time
        shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)
    return str(folder)
