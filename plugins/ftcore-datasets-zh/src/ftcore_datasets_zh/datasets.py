"""The Chinese ms-swift datasets as DatasetSpecs (hub ids, subsets, splits, preprocessing, task, languages).

Splits are ``"split"`` or ``"subset:split"`` strings; several entries are concatenated in order.
Hugging Face ids are given only where the Hugging Face repository holds the same data as the ModelScope
one (the ModelScope entry is a mirror of it).
"""

from __future__ import annotations

from ftcore.specs import DatasetSpec
from ftcore_datasets_zh import preprocess as p

ZH = ["zh"]

#: the raw columns of ms-swift's "Smart (→ Alpaca)" sets are not named at ms-swift
#: commit; the commit before processed the same ids with the Alpaca rule (instruction / input / output).
SMART_NOTE = (
    " Raw columns assumed instruction / input / output (ambiguous in ms-swift: its Smart preprocessor"
    " picked the schema at run time); other shapes fall back to the generic row normalizer."
)


def specs() -> list[DatasetSpec]:
    """A fresh list of this pack's specs (the registry stamps each one with the owning plugin)."""
    medical = {"modelscope": "huangjintao/medical_zh"}
    agent = {"modelscope": "damo/MSAgent-Bench"}
    agent_note = (
        " Roles: the system turn (the data's own system prompt, listing the tools) → system, user → user,"
        " assistant → assistant; tool calls and their results stay inside the assistant turns as the data"
        " stores them; turns with a tool / function / observation role, if present, become tool turns."
    )
    return [
        DatasetSpec(
            name="alpaca-zh",
            hub={
                "modelscope": "AI-ModelScope/alpaca-gpt4-data-zh",
                "huggingface": "llm-wizard/alpaca-gpt4-data-zh",
            },
            preprocess=p.alpaca_zh,
            task="chat",
            languages=ZH,
            tags=["general", "gpt4"],
            description="Alpaca instructions answered by GPT-4, in Chinese. A leading '输入：' is removed from input.",
        ),
        DatasetSpec(
            name="instinwild-zh",
            hub={"modelscope": "wyj123456/instinwild"},
            train=["train"],
            preprocess=p.smart_alpaca,
            task="chat",
            languages=ZH,
            tags=["general"],
            description="Instruction in the wild, Chinese part (default subset)." + SMART_NOTE,
        ),
        DatasetSpec(
            name="cot-zh",
            hub={"modelscope": "YorickHe/CoT_zh"},
            preprocess=p.smart_alpaca,
            task="chat",
            languages=ZH,
            tags=["general", "cot"],
            description="Chain-of-thought instructions in Chinese." + SMART_NOTE,
        ),
        DatasetSpec(
            name="firefly-all-zh",
            hub={"modelscope": "wyj123456/firefly", "huggingface": "YeungNLP/firefly-train-1.1M"},
            data_files=["firefly-train-1.1M.jsonl"],
            validation=[],
            preprocess=p.firefly,
            task="chat",
            languages=ZH,
            tags=["general", "multi-task"],
            description=(
                "Firefly 1.1M: records {kind, input, target}, the 24 task kinds of ms-swift kept. One file, no"
                " validation split: validation is split off by data.test_ratio."
            ),
        ),
        DatasetSpec(
            name="sharegpt-zh",
            hub={"modelscope": "huangjintao/sharegpt"},
            train=["common-zh:train", "computer-zh:train", "unknow-zh:train"],
            preprocess=p.sharegpt_rounds,
            task="chat",
            languages=ZH,
            tags=["general", "multi-turn"],
            description=(
                "ShareGPT conversations in Chinese (ms-swift registered it as 'sharegpt_zh', with an underscore)."
                " Column 'conversation': a Python-literal list of {human, assistant} rounds."
            ),
        ),
        DatasetSpec(
            name="damo-agent-zh",
            hub=agent,
            train=["train"],
            validation=["validation"],
            preprocess=p.damo_agent,
            task="agent",
            languages=ZH,
            tags=["agent", "multi-turn", "tools"],
            description=(
                "MSAgent-Bench tool-use conversations; rows whose system prompt lists fewer than two distinct"
                " tools (plugin_name or name keys) are dropped." + agent_note
            ),
        ),
        DatasetSpec(
            name="damo-agent-mini-zh",
            hub=agent,
            train=["train"],
            validation=["validation"],
            preprocess=p.damo_agent_mini,
            task="agent",
            languages=ZH,
            tags=["agent", "multi-turn", "tools"],
            description=(
                "MSAgent-Bench, the rows whose system prompt lists two or more distinct tools with"
                " 'plugin_name' keys." + agent_note
            ),
        ),
        DatasetSpec(
            name="code-python-zh",
            hub={"modelscope": "codefuse-ai/CodeExercise-Python-27k"},
            preprocess=p.code_python,
            task="chat",
            languages=ZH,
            tags=["coding", "python"],
            description="Python exercises; 'chat_rounds' turns {role: human|bot|system, content}.",
        ),
        DatasetSpec(
            name="medical-zh",
            hub=medical,
            train=["zh:train", "zh:val"],
            validation=["zh:test"],
            preprocess=p.medical_zh,
            task="chat",
            languages=ZH,
            tags=["medical"],
            description="Medical questions and answers in Chinese (instruction → query, output → response).",
        ),
        DatasetSpec(
            name="medical-mini-zh",
            hub=medical,
            train=["zh:train", "zh:val"],
            validation=["zh:test"],
            preprocess=p.medical_zh,
            sample=100000,
            task="chat",
            languages=ZH,
            tags=["medical"],
            description=(
                "medical-zh limited to 100000 training rows (ms-swift's per-dataset sample; ms-swift took the"
                " first 100000 rows, shuffled, of train and of validation alike)."
            ),
        ),
        DatasetSpec(
            name="lawyer-llama-zh",
            hub={"modelscope": "AI-ModelScope/lawyer_llama_data", "huggingface": "Skepsun/lawyer_llama_data"},
            preprocess=p.lawyer_llama,
            task="chat",
            languages=ZH,
            tags=["law"],
            description="Legal Q&A (instruction → query, output → response); the 'history' column is discarded.",
        ),
        DatasetSpec(
            name="tigerbot-law-zh",
            hub={
                "modelscope": "AI-ModelScope/tigerbot-law-plugin",
                "huggingface": "TigerResearch/tigerbot-law-plugin",
            },
            preprocess=p.tigerbot_law,
            task="text-generation",
            languages=ZH,
            tags=["law", "pretrain"],
            description=(
                "Chinese law texts for continued pretraining: response only (type, title, chapters, content)"
                " after an empty query; train it with a generation template (e.g. default-generation)."
            ),
        ),
        DatasetSpec(
            name="blossom-math-zh",
            hub={"modelscope": "AI-ModelScope/blossom-math-v2", "huggingface": "Azure99/blossom-math-v2"},
            preprocess=p.blossom_math,
            task="chat",
            languages=ZH,
            tags=["math"],
            description="Math word problems: query = input; response = output + '\\n\\nAnswer: ' + answer.",
        ),
        DatasetSpec(
            name="school-math-zh",
            hub={
                "modelscope": "AI-ModelScope/school_math_0.25M",
                "huggingface": "BelleGroup/school_math_0.25M",
            },
            preprocess=p.smart_alpaca,
            task="chat",
            languages=ZH,
            tags=["math"],
            description="BELLE school math, 0.25M problems with step-by-step solutions." + SMART_NOTE,
        ),
        DatasetSpec(
            name="advertise-gen-zh",
            hub={"modelscope": "lvjianjin/AdvertiseGen", "huggingface": "shibing624/AdvertiseGen"},
            train=["train"],
            validation=["validation"],
            preprocess=p.advertise_gen,
            task="text-generation",
            languages=ZH,
            tags=["text-generation"],
            description="Advertisement text from product keywords ('content' → prompt, 'summary' → response).",
        ),
        DatasetSpec(
            name="dureader-robust-zh",
            hub={"modelscope": "modelscope/DuReader_robust-QG"},
            train=["train", "validation"],
            validation=["test"],
            preprocess=p.dureader,
            task="text-generation",
            languages=ZH,
            tags=["question-generation"],
            description="Question generation: 'text1' = answer[SEP]context → prompt, 'text2' = the question.",
        ),
        DatasetSpec(
            name="cmnli-zh",
            hub={"modelscope": "modelscope/clue", "huggingface": "clue/clue"},
            train=["cmnli:train", "cmnli:validation"],
            validation=[],
            preprocess=p.cmnli,
            task="classification",
            languages=ZH,
            tags=["classification", "nli"],
            description=(
                "CLUE CMNLI as instruction data (labels neutral, entailment, contradiction)."
                " rows with an unknown label (-1) are reported as 'unknown label' and skipped; the"
                " ms-swift mapped -1 to 'contradiction'. ms-swift validated on cmnli:test, whose public labels are"
                " all -1, so here validation is split off the training rows by data.test_ratio instead."
            ),
        ),
        DatasetSpec(
            name="jd-sentiment-zh",
            hub={"modelscope": "DAMO_NLP/jd"},
            train=["train"],
            validation=["validation"],
            preprocess=p.jd_sentiment,
            task="classification",
            languages=ZH,
            tags=["classification", "sentiment"],
            description=(
                "JD.com review sentiment as instruction data (labels negative, positive). labels"
                " outside 0/1 are reported as 'unknown label' and skipped (ms-swift kept them)."
            ),
        ),
        DatasetSpec(
            name="poetry-zh",
            hub={"modelscope": "modelscope/chinese-poetry-collection"},
            train=["train"],
            validation=["test"],
            preprocess=p.poetry,
            task="text-generation",
            languages=ZH,
            tags=["poetry"],
            description="Classical Chinese poems for free generation: response = 'text1', empty query.",
        ),
        DatasetSpec(
            name="cls-fudan-news-zh",
            hub={"modelscope": "damo/zh_cls_fudan-news"},
            preprocess=p.prompt_answer,
            task="classification",
            languages=ZH,
            tags=["classification", "news"],
            description="Fudan news classification, already in instruction form ('prompt' → query, 'answer' → response).",
        ),
        DatasetSpec(
            name="ner-jave-zh",
            hub={"modelscope": "damo/zh_ner-JAVE"},
            preprocess=p.prompt_answer,
            task="ner",
            languages=ZH,
            tags=["ner"],
            description=(
                "JAVE product-attribute NER, already in instruction form ('prompt' → query, 'answer' → response)."
                " (ms-swift's constant was spelled ner_java_zh; the name is ner-jave-zh.)"
            ),
        ),
    ]
