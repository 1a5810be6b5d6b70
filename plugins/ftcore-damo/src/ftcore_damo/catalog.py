"""The DAMO catalog: ms-swift's PolyLM-13B and SeqGPT-560M. Pure Python (no torch).

* ``polylm-13b``: a GPT-style model (fused ``c_attn`` projection, ms-swift's "polylm" LoRA group) whose tokenizer
  must be the slow (sentencepiece) one, loaded with ``legacy=True`` (:class:`ftcore_damo.loading.PolyLMLoader`).
* ``seqgpt-560m``: a BLOOM model (``query_key_value``) for extraction / classification prompts, single turn
  (``default-generation``).
"""

from __future__ import annotations

from ftcore import ModelSpec

#: ms-swift's DAMO model names, for completeness tests
SEED_MODELS = ("polylm-13b", "seqgpt-560m")


def damo_specs() -> list[ModelSpec]:
    """Every model of the plugin (fresh objects on each call)."""
    return [
        ModelSpec(
            name="polylm-13b",
            hub={"modelscope": "damo/nlp_polylm_13b_text_generation", "huggingface": "DAMO-NLP-MT/polylm-13b"},
            template="default",
            lora_targets=["c_attn"],
            requires=["sentencepiece>=0.1.99"],
            max_length=2048,
            trust_remote_code=True,
            tags=["base", "polylm"],
            loader="ftcore_damo.loading:PolyLMLoader",
            description="PolyLM-13B (GPT-style, slow sentencepiece tokenizer with legacy=True)",
        ),
        ModelSpec(
            name="seqgpt-560m",
            hub={"modelscope": "damo/nlp_seqgpt-560m", "huggingface": "DAMO-NLP/SeqGPT-560M"},
            template="default-generation",
            lora_targets=["query_key_value"],
            max_length=2048,
            tags=["base", "bloom"],
            loader="ftcore_damo.loading:SeqGPTLoader",
            description="SeqGPT-560M (BLOOM architecture; single-turn extraction / classification prompts)",
        ),
    ]
