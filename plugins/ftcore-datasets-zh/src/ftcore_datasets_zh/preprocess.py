"""One preprocessing function per raw schema of the Chinese ms-swift datasets.

Each takes one raw row (a dict) and returns ``{"messages": [...], "images": [...]}``, None for a row the
ms-swift filters out on purpose, or raises :class:`ftcore.data.formats.BadRow` for a broken row.
Pure Python: importing this module loads neither torch nor datasets.
"""

from __future__ import annotations

import re
from typing import Any

from ftcore.data.rows import (
    BadRow,
    alpaca,
    chat,
    conversation,
    field,
    literal_turns,
    response_only,
)

Row = dict[str, Any]

# --------------------------------------------------------------------------------------------------
# Alpaca-style sets (instruction / input / output)


def _concat_alpaca_zh(instruction: str, inp: str) -> str:
    if inp.startswith("输入："):  # "输入" + full-width colon: 3 characters
        inp = inp[3:]
    return f"{instruction}\n{inp}"


def alpaca_zh(row: Row) -> Row:
    """alpaca-zh: the Alpaca rule, with a leading ``输入：`` removed from ``input`` before joining."""
    return alpaca(row, concat=_concat_alpaca_zh)


def smart_alpaca(row: Row) -> Row:
    """instinwild-zh, cot-zh, school-math-zh: ms-swift's Smart preprocessor, which picks the Alpaca rule
    for these sets (``instruction`` / ``input`` / ``output``; query = instruction [+ "\\n" + input])."""
    return alpaca(row)


# --------------------------------------------------------------------------------------------------
# Conversation sets

FIREFLY_KINDS = frozenset(
    {
        "ProseGeneration", "MRC", "JinYongGeneration", "TextCorrection", "ClassicalChinese", "BELLE",
        "StoryGeneration", "Couplet", "Cot", "Dictionary", "Translation", "Program", "SentimentAnalyze",
        "OpenQA", "AncientPoem", "TextMatching", "NLI", "Summary", "KeywordRecognition", "ProductDesc",
        "LyricGeneration", "Composition", "MusicComment", "NER",
    }
)  # fmt: skip


def firefly(row: Row) -> Row | None:
    """firefly-all-zh: keep the 24 task kinds of ms-swift; query = ``input``, response = ``target``."""
    if row.get("kind") not in FIREFLY_KINDS:
        return None
    return chat(field(row, "input"), field(row, "target"))


def sharegpt_rounds(row: Row) -> Row:
    """sharegpt-zh: ``conversation`` is a list (or a Python-literal string) of rounds ``{human, assistant}``;
    the last round is the final exchange, earlier rounds are the history. No system prompt."""
    rounds = literal_turns(row.get("conversation"), "conversation")
    pairs = []
    for r in rounds:
        if (
            not isinstance(r, dict)
            or not isinstance(r.get("human"), str)
            or not isinstance(r.get("assistant"), str)
        ):
            raise BadRow("unparseable conversation", "a round is not {human: text, assistant: text}")
        pairs.append((r["human"], r["assistant"]))
    *history, (query, response) = pairs
    return chat(query, response, history=history)


def code_python(row: Row) -> Row:
    """code-python-zh: ``chat_rounds`` turns ``{role, content}`` with roles ``human`` / ``bot`` / ``system``."""
    return conversation(
        literal_turns(row.get("chat_rounds"), "chat_rounds"),
        user_role="human",
        assistant_role="bot",
        system_role="system",
        role_key="role",
        content_key="content",
    )


# Agent sets (damo/MSAgent-Bench). The raw cell is the Python repr of a list of {"from", "value"} turns.
_AGENT_USER_MARK = "'from': 'user"
_AGENT_TOOLS_MINI = re.compile(r'\d\. {"plugin_name": "(.+?)"')
_AGENT_TOOLS_FULL = re.compile(r'\d\. {"(?:plugin_)?name": "(.+?)"')


def _agent(row: Row, tools: re.Pattern[str]) -> Row | None:
    cell = row.get("conversations")
    if cell is None:
        raise BadRow("missing field", "conversations")
    text = cell if isinstance(cell, str) else repr(cell)
    user_at = text.find(_AGENT_USER_MARK)
    if user_at == -1:
        return None  # no user turn at all
    if len(set(tools.findall(text[:user_at]))) <= 1:
        return None  # the system prompt lists at most one tool: dirty data (seed rule)
    turns = literal_turns(cell, "conversations")
    if len(turns) == 1:
        return None
    return conversation(
        turns,
        user_role="user",
        assistant_role="assistant",
        system_role="system",
        role_key="from",
        content_key="value",
        tool_roles=("tool", "function", "observation"),
    )


def damo_agent(row: Row) -> Row | None:
    """damo-agent-zh: MSAgent-Bench conversations whose system prompt lists ≥ 2 distinct tools, given as
    ``1. {"plugin_name": "…"`` or ``1. {"name": "…"``. Roles map system→system, user→user,
    assistant→assistant (the tool call and its result stay inside the assistant turn, as the data stores
    them); turns with a ``tool`` / ``function`` / ``observation`` role, if any, become ``tool`` turns."""
    return _agent(row, _AGENT_TOOLS_FULL)


def damo_agent_mini(row: Row) -> Row | None:
    """damo-agent-mini-zh: as :func:`damo_agent`, but only tool lists written with ``"plugin_name"`` keys
    count, so rows whose system prompt uses ``"name"`` are dropped — that is all that makes it smaller."""
    return _agent(row, _AGENT_TOOLS_MINI)


# --------------------------------------------------------------------------------------------------
# Renamed-column sets (ms-swift's RenameColumns; no row filter beyond the field checks)


def medical_zh(row: Row) -> Row:
    """medical-zh / medical-mini-zh: query = ``instruction``, response = ``output``."""
    return chat(field(row, "instruction"), field(row, "output"))


def lawyer_llama(row: Row) -> Row:
    """lawyer-llama-zh: query = ``instruction``, response = ``output``; the ``history`` column is discarded."""
    return chat(field(row, "instruction"), field(row, "output"))


def prompt_answer(row: Row) -> Row:
    """cls-fudan-news-zh, ner-jave-zh: the rows already hold an instruction prompt (``prompt``) and the
    expected output (``answer``): query = prompt, response = answer."""
    return chat(field(row, "prompt"), field(row, "answer"))


def poetry(row: Row) -> Row:
    """poetry-zh: response = ``text1``, no query (free generation)."""
    return response_only(field(row, "text1"))


# --------------------------------------------------------------------------------------------------
# Built prompts


def tigerbot_law(row: Row) -> Row:
    """tigerbot-law-zh (continued pretraining): response only — ``type`` "\\n" ``title`` "\\n", then each of
    ``chapter1..3`` that is not None (no separator), then ``content``."""
    text = f"{field(row, 'type')}\n{field(row, 'title')}\n"
    for key in ("chapter1", "chapter2", "chapter3"):
        chapter = row.get(key)
        if chapter is not None:
            text += str(chapter)
    return response_only(text + field(row, "content"))


def blossom_math(row: Row) -> Row:
    """blossom-math-zh: query = ``input``; response = ``output`` + "\\n\\nAnswer: " + ``answer``."""
    answer = row.get("answer")
    if answer is None:
        raise BadRow("missing field", "answer")
    return chat(field(row, "input"), f"{field(row, 'output')}\n\nAnswer: {answer}")


ADVERTISE_PROMPT = "Task: Generating advertisements based on keywords.\nKeywords: {content}\nAdvertisements: "


def advertise_gen(row: Row) -> Row:
    """advertise-gen-zh: query = the ad prompt around ``content``; response = ``summary``."""
    return chat(ADVERTISE_PROMPT.format(content=field(row, "content")), field(row, "summary"))


DUREADER_PROMPT = "Task: Question Generation\nContext: {context}\nAnswer: {answer}\nQuestion: "


def dureader(row: Row) -> Row:
    """dureader-robust-zh: ``text1`` is ``answer[SEP]context`` (exactly one ``[SEP]``); response = ``text2``."""
    parts = field(row, "text1").split("[SEP]")
    if len(parts) != 2:
        raise BadRow("malformed field", f"text1 holds {len(parts) - 1} '[SEP]' markers, expected 1")
    answer, context = parts
    return chat(DUREADER_PROMPT.format(context=context, answer=answer), field(row, "text2"))


# --------------------------------------------------------------------------------------------------
# Classification sets turned into instruction data (ms-swift's Cls rule)


def cls_prompt(task: str, labels: list[str], sentences: dict[str, str]) -> str:
    """``Task: …`` / the sentences / ``Category: a, b`` / ``Output: `` (lines joined by "\\n")."""
    inputs = "\n".join(f"{name}: {text}" for name, text in sentences.items())
    return f"Task: {task}\n{inputs}\nCategory: {', '.join(labels)}\nOutput: "


def _label(row: Row, labels: list[str]) -> str:
    label = row.get("label")
    if label is None:
        raise BadRow("missing field", "label")
    try:
        index = int(label)
    except (TypeError, ValueError):
        raise BadRow("wrong type", f"label {label!r} is not a class index") from None
    if not 0 <= index < len(labels):
        # CLUE test splits store unknown labels as -1; ms-swift mapped -1 to the last label name
        # (a wrong answer). Such rows carry no label, so they are reported and skipped.
        raise BadRow("unknown label", f"label {index} (classes 0..{len(labels) - 1})")
    return labels[index]


CMNLI_LABELS = ["neutral", "entailment", "contradiction"]
JD_LABELS = ["negative", "positive"]


def cmnli(row: Row) -> Row:
    """cmnli-zh: natural language inference on ``sentence1`` / ``sentence2``; response = the label name."""
    sentences = {"Sentence1": field(row, "sentence1"), "Sentence2": field(row, "sentence2")}
    response = _label(row, CMNLI_LABELS)
    return chat(cls_prompt("Natural Language Inference", CMNLI_LABELS, sentences), response)


def jd_sentiment(row: Row) -> Row:
    """jd-sentiment-zh: sentiment of ``sentence``; response = ``negative`` / ``positive``."""
    response = _label(row, JD_LABELS)
    return chat(
        cls_prompt("Sentiment Classification", JD_LABELS, {"Sentence": field(row, "sentence")}), response
    )
