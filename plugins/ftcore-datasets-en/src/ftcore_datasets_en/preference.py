"""English preference datasets (``task = "preference"``) for the DPO / ORPO / SimPO / CPO / reward-model stages.

Each preprocess function turns one raw row into ``{"messages": [prompt turns ending on a user turn],
"chosen": str, "rejected": str, "images": []}`` or raises :class:`ftcore.data.rows.BadRow`. Pure Python.
"""

from __future__ import annotations

import re
from typing import Any

from ftcore.data.rows import BadRow, chat, field, preference_pair
from ftcore.specs import DatasetSpec

Row = dict[str, Any]

#: a turn marker of Anthropic's transcripts; "Hum:" is a typo found in a few rows (ms-swift accepted it too)
HH_MARKER = re.compile(r"(?:^|\n\n)(Human|Hum|Assistant):")
HH_ROLES = {"Human": "user", "Hum": "user", "Assistant": "assistant"}


def hh_transcript(text: Any, key: str) -> list[dict[str, str]]:
    """``"\\n\\nHuman: q\\n\\nAssistant: a ..."`` → user / assistant messages (contents stripped)."""
    if text is None:
        raise BadRow("missing field", key)
    if not isinstance(text, str):
        raise BadRow("wrong type", f"{key} is {type(text).__name__}, expected a transcript")
    parts = HH_MARKER.split(text.strip())
    if parts[0].strip() or len(parts) < 3:
        raise BadRow("unparseable conversation", f"{key} does not start with 'Human:'")
    return [
        {"role": HH_ROLES[marker], "content": content.strip()}
        for marker, content in zip(parts[1::2], parts[2::2], strict=True)
    ]


def split_pair(chosen: list[dict[str, str]], rejected: list[dict[str, str]]) -> Row:
    """Two full conversations that share everything but the last assistant turn → a preference pair."""
    for side, turns in (("chosen", chosen), ("rejected", rejected)):
        if not turns or turns[-1].get("role") != "assistant":
            raise BadRow("unparseable conversation", f"{side} does not end on an assistant turn")
    if chosen[:-1] != rejected[:-1]:
        raise BadRow("malformed field", "chosen and rejected differ before their last answer")
    return preference_pair(chosen[:-1], chosen[-1]["content"], rejected[-1]["content"])


def hh_rlhf(row: Row) -> Row:
    """hh-rlhf-en: ``chosen`` / ``rejected`` are whole transcripts (``\\n\\nHuman: … \\n\\nAssistant: …``)
    with the same history; the history becomes the multi-turn prompt, the two last answers the pair."""
    return split_pair(
        hh_transcript(row.get("chosen"), "chosen"), hh_transcript(row.get("rejected"), "rejected")
    )


def message_list(value: Any, key: str) -> list[dict[str, str]]:
    if value is None:
        raise BadRow("missing field", key)
    if not isinstance(value, list) or not all(
        isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
        for m in value
    ):
        raise BadRow("wrong type", f"{key} is not a list of {{role, content}} messages")
    return [{"role": m["role"], "content": m["content"]} for m in value]


def ultrafeedback(row: Row) -> Row:
    """ultrafeedback-binarized-en: ``chosen`` / ``rejected`` are message lists (the user prompt, then the
    answer); the shared turns before the last answer are the prompt."""
    return split_pair(
        message_list(row.get("chosen"), "chosen"), message_list(row.get("rejected"), "rejected")
    )


def ultrafeedback_kto(row: Row) -> Row:
    """ultrafeedback-kto-en: ``prompt`` → user, ``completion`` → assistant, ``label`` (bool) → the KTO label."""
    label = row.get("label")
    if label is None:
        raise BadRow("missing field", "label")
    if not isinstance(label, bool):
        raise BadRow("wrong type", f"label is {type(label).__name__}, expected true / false")
    out = chat(field(row, "prompt"), field(row, "completion"))
    return {"messages": out["messages"], "label": label, "images": []}


def preference_specs() -> list[DatasetSpec]:
    """This pack's preference datasets (fresh objects: the registry stamps each with the plugin)."""
    return [
        DatasetSpec(
            name="hh-rlhf-en",
            hub={"huggingface": "Anthropic/hh-rlhf", "modelscope": "AI-ModelScope/hh-rlhf"},
            train=["train"],
            validation=["test"],
            preprocess=hh_rlhf,
            task="preference",
            languages=["en"],
            tags=["preference", "rlhf", "multi-turn"],
            description=(
                "Anthropic's helpful / harmless human preference pairs (all four subsets, 160,800 train / 8,552"
                " test): 'chosen' and 'rejected' are '\\n\\nHuman: … \\n\\nAssistant: …' transcripts sharing their"
                " history, which becomes the multi-turn prompt."
            ),
        ),
        DatasetSpec(
            name="ultrafeedback-binarized-en",
            hub={"huggingface": "HuggingFaceH4/ultrafeedback_binarized"},
            train=["train_prefs"],
            validation=["test_prefs"],
            preprocess=ultrafeedback,
            task="preference",
            languages=["en"],
            tags=["preference", "gpt4"],
            description=(
                "UltraFeedback binarized (the best-rated answer against a random lower-rated one, splits"
                " train_prefs / test_prefs): 'chosen' / 'rejected' are [user, assistant] message lists."
            ),
        ),
        DatasetSpec(
            name="ultrafeedback-kto-en",
            hub={
                "huggingface": "argilla/ultrafeedback-binarized-preferences-cleaned-kto",
                "modelscope": "AI-ModelScope/ultrafeedback-binarized-preferences-cleaned-kto",
            },
            preprocess=ultrafeedback_kto,
            task="kto",
            languages=["en"],
            tags=["preference", "kto"],
            description=(
                "UltraFeedback (Argilla's cleaned binarization) unpaired for KTO: 'prompt', one 'completion' and"
                " 'label' (true = desirable)."
            ),
        ),
    ]
