"""The English and multilingual ms-swift datasets as DatasetSpecs (hub ids, subsets, splits, preprocessing).

Splits are ``"split"`` or ``"subset:split"`` strings; several entries are concatenated in order.
Hugging Face ids are given only where the Hugging Face repository holds the same data as the ModelScope
one (the ModelScope entry is a mirror of it).
"""

from __future__ import annotations

from ftcore.specs import DatasetSpec
from ftcore_datasets_en import preprocess as p

EN = ["en"]

#: the raw columns of ms-swift's "Smart (→ Alpaca)" sets are not named at ms-swift
#: commit; the commit before processed the same ids with the Alpaca rule (instruction / input / output).
SMART_NOTE = (
    " Raw columns assumed instruction / input / output (ambiguous in ms-swift: its Smart preprocessor"
    " picked the schema at run time); other shapes fall back to the generic row normalizer."
)

#: damo/nlp_polylm_multialpaca_sft: subset → (language, training rows)
MULTI_ALPACA = {
    "ar": ("Arabic", 14671),
    "de": ("German", 9515),
    "es": ("Spanish", 9958),
    "fr": ("French", 11332),
    "id": ("Indonesian", 12117),
    "ja": ("Japanese", 10191),
    "ko": ("Korean", 14402),
    "pt": ("Portuguese", 10825),
    "ru": ("Russian", 14286),
    "th": ("Thai", 11496),
    "vi": ("Vietnamese", 13908),
}


#: huangjintao/AgentInstruct_copy: the subsets ms-swift's custom example registers (split train each)
AGENT_SUBSETS = ("alfworld", "db", "kg", "mind2web", "os", "webshop")


def specs() -> list[DatasetSpec]:
    """A fresh list of this pack's specs (the registry stamps each one with the owning plugin)."""
    medical = {"modelscope": "huangjintao/medical_zh"}
    multi_help = ", ".join(f"{k} {lang} {n:,}" for k, (lang, n) in MULTI_ALPACA.items())
    return [
        DatasetSpec(
            name="alpaca-en",
            hub={"modelscope": "AI-ModelScope/alpaca-gpt4-data-en", "huggingface": "vicgalle/alpaca-gpt4"},
            preprocess=p.smart_alpaca,
            task="chat",
            languages=EN,
            tags=["general", "gpt4"],
            description="Alpaca instructions answered by GPT-4." + SMART_NOTE,
        ),
        DatasetSpec(
            name="multi-alpaca-all",
            hub={"modelscope": "damo/nlp_polylm_multialpaca_sft"},
            train=[f"{subset}:train" for subset in MULTI_ALPACA],
            preprocess=p.smart_alpaca,
            task="chat",
            languages=list(MULTI_ALPACA),
            tags=["general", "multilingual"],
            extra={"subsets": {k: {"language": lang, "rows": n} for k, (lang, n) in MULTI_ALPACA.items()}},
            description=(
                f"PolyLM Multi-Alpaca, all 11 language subsets ({multi_help} rows). ms-swift wrote this"
                " registration but passed its get-function in the preprocess position, so it never registered"
                " (a defect its next commit fixed with the Smart preprocessor); registered here as intended."
                + SMART_NOTE
            ),
        ),
        DatasetSpec(
            name="instinwild-en",
            hub={"modelscope": "wyj123456/instinwild"},
            train=["subset:train"],
            preprocess=p.smart_alpaca,
            task="chat",
            languages=EN,
            tags=["general"],
            description="Instruction in the wild, English part (subset 'subset')." + SMART_NOTE,
        ),
        DatasetSpec(
            name="cot-en",
            hub={"modelscope": "YorickHe/CoT"},
            preprocess=p.smart_alpaca,
            task="chat",
            languages=EN,
            tags=["general", "cot"],
            description="Chain-of-thought instructions." + SMART_NOTE,
        ),
        DatasetSpec(
            name="instruct-en",
            hub={"modelscope": "wyj123456/instruct"},
            preprocess=p.instruct,
            task="chat",
            languages=EN,
            tags=["general"],
            description="Instruction / completion pairs ('prompt' → query, 'completion' → response).",
        ),
        DatasetSpec(
            name="gpt4all-en",
            hub={"modelscope": "wyj123456/GPT4all"},
            preprocess=p.smart_alpaca,
            task="chat",
            languages=EN,
            tags=["general"],
            description="GPT4All prompt / response pairs." + SMART_NOTE,
        ),
        DatasetSpec(
            name="sharegpt-en",
            hub={"modelscope": "huangjintao/sharegpt"},
            train=["common-en:train", "computer-en:train"],
            preprocess=p.sharegpt_rounds,
            task="chat",
            languages=EN,
            tags=["general", "multi-turn"],
            description="ShareGPT conversations; column 'conversation': a Python-literal list of {human, assistant} rounds.",
        ),
        DatasetSpec(
            name="agent-instruct-all-en",
            hub={"modelscope": "huangjintao/AgentInstruct_copy"},
            train=[f"{subset}:train" for subset in AGENT_SUBSETS],
            preprocess=p.agent_instruct,
            task="chat",
            languages=EN,
            tags=["agent", "multi-turn"],
            description=(
                "AgentInstruct (ms-swift's custom-registration example), subsets " + ", ".join(AGENT_SUBSETS)
                + "; column 'conversations': turns {from: human | gpt, value}, a string with '}\\n {' between"
                " turns repaired to '},\\n {' and parsed as a Python literal."
            ),
        ),
        DatasetSpec(
            name="code-alpaca-en",
            hub={"modelscope": "wyj123456/code_alpaca_en", "huggingface": "sahil2801/CodeAlpaca-20k"},
            preprocess=p.smart_alpaca,
            task="chat",
            languages=EN,
            tags=["coding"],
            description="Code Alpaca 20k programming instructions." + SMART_NOTE,
        ),
        DatasetSpec(
            name="leetcode-python-en",
            hub={"modelscope": "AI-ModelScope/leetcode-solutions-python"},
            preprocess=p.leetcode_python,
            task="chat",
            languages=EN,
            tags=["coding", "python"],
            description=(
                "LeetCode problems with Python solutions: 'code_with_problem' split at its ```python fence"
                " (problem → query; code + '\\n\\n' + 'explanation_only' → response)."
            ),
        ),
        DatasetSpec(
            name="medical-en",
            hub=medical,
            train=["en:train", "en:val"],
            validation=["en:test"],
            preprocess=p.medical_en,
            task="chat",
            languages=EN,
            tags=["medical"],
            description="Medical questions and answers, English subset of medical_zh ('input' → query, 'output' → response).",
        ),
        DatasetSpec(
            name="text2sql-en",
            hub={
                "modelscope": "AI-ModelScope/texttosqlv2_25000_v2",
                "huggingface": "Clinton/texttosqlv2_25000_v2",
            },
            preprocess=p.smart_alpaca,
            task="chat",
            languages=EN,
            tags=["sql"],
            description="Text to SQL, 25k rows." + SMART_NOTE,
        ),
        DatasetSpec(
            name="sql-create-context-en",
            hub={"modelscope": "AI-ModelScope/sql-create-context", "huggingface": "b-mc2/sql-create-context"},
            preprocess=p.sql_create_context,
            task="chat",
            languages=EN,
            tags=["sql"],
            description="Text to SQL with the CREATE TABLE context: query = question + '\\n' + context, response = answer.",
        ),
        DatasetSpec(
            name="finance-en",
            hub={"modelscope": "wyj123456/finance_en", "huggingface": "ssbuild/alpaca_finance_en"},
            preprocess=p.smart_alpaca,
            task="chat",
            languages=EN,
            tags=["finance"],
            description="Finance instructions in Alpaca form." + SMART_NOTE,
        ),
        DatasetSpec(
            name="coco-en",
            hub={"modelscope": "modelscope/coco_2014_caption"},
            train=["coco_2014_caption:train"],
            validation=["coco_2014_caption:validation"],
            preprocess=p.coco_caption,
            task="multimodal",
            languages=EN,
            tags=["multimodal", "vision", "caption"],
            description=(
                "COCO 2014 captions: one image + caption per row. Images stay paths / URLs (load the 'image'"
                " column without decoding) in 'images'; the user turn is '<img>PATH</img>please describe the"
                " image' (ms-swift's Qwen-VL form); response = the caption up to the first '&&'."
            ),
        ),
    ]
