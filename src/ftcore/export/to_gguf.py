"""A saved Hugging Face model folder -> one GGUF file, with the ``gguf`` package's own tables (llama.cpp's gguf-py).

llama.cpp's ``convert_hf_to_gguf.py`` is not on PyPI; its steps for the supported architectures are short, so they
are done here with the package's pieces: ``GGUFWriter`` (the file format), ``get_tensor_name_map`` (HF tensor
names -> GGUF names), ``gguf.quants.quantize`` (the block quantizations numpy can compute), ``BpeVocab`` /
``LlamaHfVocab`` / ``SpecialVocab`` (tokens, merges, special ids). As the converter does, Llama-layout models get
their q / k rows permuted for llama.cpp's rope, norms and biases stay float32, and a tensor whose rows do not
divide into quantization blocks stays f16.

``--quant``: f32, f16, bf16, q8_0, q5_1, q5_0, q4_1, q4_0. The k-quants (q4_k_m …) need llama.cpp's
``llama-quantize`` binary (its importance-weighted search is C++): export f16 and run it on the file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ftcore.errors import FtcoreError, MissingDependencyError

#: HF architecture -> (GGUF architecture, llama.cpp rope layout needs the q/k permutation, pre-tokenizer tag)
ARCHITECTURES: dict[str, tuple[str, bool, str]] = {
    "Qwen2ForCausalLM": ("qwen2", False, "qwen2"),
    "Qwen3ForCausalLM": ("qwen3", False, "qwen2"),
    "LlamaForCausalLM": ("llama", True, "llama-bpe"),
    "MistralForCausalLM": ("llama", True, "llama-bpe"),
}

QUANTS = ("f16", "q8_0", "bf16", "f32", "q5_1", "q5_0", "q4_1", "q4_0")
K_QUANTS = ("q2_k", "q3_k_s", "q3_k_m", "q3_k_l", "q4_k_s", "q4_k_m", "q5_k_s", "q5_k_m", "q6_k")


def check_quant(quant: str) -> str:
    """``quant`` lower-cased, or a one-line error naming what is supported (or the missing ``gguf`` package)."""
    import importlib.util

    if importlib.util.find_spec("gguf") is None:
        raise MissingDependencyError("ftcore export --to gguf / ollama (the gguf package)", "'ftcore[gguf]'")
    q = quant.lower()
    if q in QUANTS:
        return q
    if q in K_QUANTS:
        raise FtcoreError(f"--quant {quant}: k-quants need llama.cpp's llama-quantize binary; export --quant f16 and "
                          f"run: llama-quantize model-f16.gguf model-{q}.gguf {q.upper()}")
    raise FtcoreError(f"--quant {quant}: not a GGUF quantization ftcore writes (use one of {', '.join(QUANTS)})")


def check_architecture(config: dict[str, Any]) -> tuple[str, bool, str]:
    arch = (config.get("architectures") or ["?"])[0]
    if arch not in ARCHITECTURES:
        raise FtcoreError(f"GGUF export: architecture {arch} is not supported (supported: "
                          f"{', '.join(sorted(ARCHITECTURES))}); export --to safetensors and use llama.cpp's "
                          "convert_hf_to_gguf.py")
    rope = config.get("rope_parameters") or config.get("rope_scaling") or {}
    kind = rope.get("rope_type") or rope.get("type") or "default"
    if kind != "default":
        raise FtcoreError(f"GGUF export: rope scaling {kind!r} ({arch}) is not supported; export --to safetensors "
                          "and use llama.cpp's convert_hf_to_gguf.py")
    return ARCHITECTURES[arch]


def _permute(w: Any, n_head: int) -> Any:
    """llama.cpp's rope pairs rotate interleaved halves: ``convert_hf_to_gguf``'s LlamaModel.permute."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _tensors(model_dir: Path) -> Iterator[tuple[str, Any]]:
    """``(name, float32 array)`` one at a time, so only the converted tensors stay in memory."""
    import torch
    from safetensors import safe_open

    files = sorted(model_dir.glob("*.safetensors"))
    if not files:
        raise FtcoreError(f"{model_dir}: no *.safetensors weights to convert")
    for f in files:
        with safe_open(str(f), framework="pt") as handle:
            for key in handle.keys():
                yield key, handle.get_tensor(key).to(torch.float32).numpy()


def _vocab(model_dir: Path, writer: Any, vocab_size: int, pre: str) -> None:
    import gguf
    from gguf.vocab import BpeVocab, LlamaHfVocab

    vocab: Any
    try:
        vocab = BpeVocab(model_dir)
        writer.add_tokenizer_model("gpt2")
        writer.add_tokenizer_pre(pre)
    except (FileNotFoundError, ValueError):
        try:
            vocab = LlamaHfVocab(model_dir)
        except (FileNotFoundError, TypeError, ImportError) as exc:
            raise FtcoreError(f"GGUF export: {model_dir}: the tokenizer is neither byte-level BPE nor Llama's "
                              f"sentencepiece-style BPE ({exc})") from exc
        writer.add_tokenizer_model("llama")
        writer.add_tokenizer_pre("default")
    tokens, scores, types = [], [], []
    for text, score, kind in vocab.all_tokens():
        tokens.append(text)
        scores.append(score)
        types.append(kind)
    for i in range(len(tokens), vocab_size):  # the embedding has more rows than the tokenizer has tokens
        tokens.append(f"[PAD{i}]")
        scores.append(-1000.0)
        types.append(gguf.TokenType.UNUSED)
    writer.add_token_list(tokens[:vocab_size])
    writer.add_token_scores(scores[:vocab_size])
    writer.add_token_types(types[:vocab_size])


def write_gguf(model_dir: str | Path, out_file: str | Path, quant: str, *, chat_template: str, eos_id: int | None,
               eot_id: int | None, name: str, license: str | None = None) -> Path:
    """Convert the model in ``model_dir`` (config.json, safetensors, tokenizer) to ``out_file``."""
    try:
        import gguf
        import numpy as np
    except ImportError as exc:
        raise MissingDependencyError("ftcore export --to gguf / ollama (the gguf package)", "'ftcore[gguf]'") from exc

    model_dir = Path(model_dir)
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    arch, permute, pre = check_architecture(config)
    quant = check_quant(quant)
    qtype = {"f32": gguf.GGMLQuantizationType.F32, "f16": gguf.GGMLQuantizationType.F16}.get(
        quant) or gguf.GGMLQuantizationType[quant.upper()]
    file_type = {"f32": gguf.LlamaFileType.ALL_F32}.get(quant) or gguf.LlamaFileType[f"MOSTLY_{quant.upper()}"]
    n_head, n_layer = config["num_attention_heads"], config["num_hidden_layers"]
    n_kv = config.get("num_key_value_heads") or n_head
    head_dim = config.get("head_dim") or config["hidden_size"] // n_head
    rope = config.get("rope_parameters") or {}
    vocab_size = config["vocab_size"]

    writer = gguf.GGUFWriter(str(out_file), arch)
    writer.add_name(name)
    if license:
        writer.add_license(license)
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(n_layer)
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_kv)
    writer.add_rope_freq_base(float(rope.get("rope_theta") or config.get("rope_theta") or 10000.0))
    writer.add_layer_norm_rms_eps(config.get("rms_norm_eps", 1e-6))
    writer.add_vocab_size(vocab_size)
    if arch == "llama":
        writer.add_rope_dimension_count(head_dim)
    if arch == "qwen3":
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)
    writer.add_file_type(file_type)
    if quant not in ("f32", "f16"):
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)

    _vocab(model_dir, writer, vocab_size, pre)
    special = gguf.SpecialVocab(model_dir, load_merges=True, n_vocab=vocab_size)
    special.chat_template = chat_template
    if eos_id is not None:
        special.special_token_ids["eos"] = eos_id
    special.add_to_gguf(writer, quiet=True)
    if eot_id is not None:
        writer.add_eot_token_id(eot_id)

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH[arch.upper()], n_layer)
    tied = config.get("tie_word_embeddings", False)
    for hf_name, data in _tensors(model_dir):
        if tied and hf_name == "lm_head.weight":
            continue
        new = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if new is None:
            raise FtcoreError(f"GGUF export: tensor {hf_name} has no GGUF name for {arch}")
        data = data.astype(np.float32)
        if permute and hf_name.endswith("q_proj.weight"):
            data = _permute(data, n_head)
        elif permute and hf_name.endswith("k_proj.weight"):
            data = _permute(data, n_kv)
        if data.ndim < 2 or quant == "f32":
            writer.add_tensor(new, data)
            continue
        try:
            q = gguf.quants.quantize(data, qtype)
            writer.add_tensor(new, q, raw_dtype=qtype)
        except gguf.quants.QuantError:  # rows not a whole number of blocks: f16, as the converter falls back
            writer.add_tensor(new, data.astype(np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return Path(out_file)
