"""Chinese preference datasets (``task = "preference"``) for the DPO / ORPO / SimPO / CPO / reward-model stages.

Each preprocess function turns one raw row into ``{"messages": [prompt turns ending on a user turn],
"chosen": str, "rejected": str, "images": []}`` or raises :class:`ftcore.data.rows.BadRow`. Pure Python.
"""

from __future__ import annotations

from typing import Any

from ftcore.data.formats import parse_literal
from ftcore.data.rows import BadRow, field, preference_pair
from ftcore.specs import DatasetSpec

Row = dict[str, Any]

HH_CN_ROLES = {"human": "user", "assistant": "assistant"}


def _turn(value: Any, key: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise BadRow("wrong type", f"{key} is not a {{role, text}} turn")
    role = HH_CN_ROLES.get(value.get("role"))  # type: ignore[arg-type]
    if role is None:
        raise BadRow("unparseable conversation", f"{key} has role {value.get('role')!r}")
    return {"role": role, "content": field(value, "text")}


def hh_rlhf_cn(row: Row) -> Row:
    """hh-rlhf-zh: ``context`` = the dialogue so far as ``[{role: human | assistant, text}]`` ending on a
    human turn; ``chosen`` / ``rejected`` = one ``{role: assistant, text}`` each. Cells may be JSON /
    Python-literal strings."""
    context = parse_literal(row.get("context"), "context")
    if not isinstance(context, list) or not context:
        raise BadRow("missing field" if context is None else "wrong type", "context")
    prompt = [_turn(t, f"context[{i}]") for i, t in enumerate(context)]
    sides = []
    for key in ("chosen", "rejected"):
        value = parse_literal(row.get(key), key)
        if value is None:
            raise BadRow("missing field", key)
        turn = _turn(value, key)
        if turn["role"] != "assistant":
            raise BadRow("unparseable conversation", f"{key} is not an assistant turn")
        sides.append(turn["content"])
    return preference_pair(prompt, sides[0], sides[1])


def shareai_dpo_zh(row: Row) -> Row:
    """shareai-dpo-zh: ``question`` → the user turn; the Chinese answer with emoji (``answer_zh``) is
    preferred over the English one (``answer_en``), as in ms-swift's registration of the set."""
    prompt = [{"role": "user", "content": field(row, "question")}]
    return preference_pair(prompt, field(row, "answer_zh"), field(row, "answer_en"))


def preference_specs() -> list[DatasetSpec]:
    """This pack's preference datasets (fresh objects: the registry stamps each with the plugin)."""
    return [
        DatasetSpec(
            name="hh-rlhf-zh",
            hub={"modelscope": "AI-ModelScope/hh_rlhf_cn"},
            train=["harmless_base_cn:train", "helpful_base_cn:train"],
            validation=["harmless_base_cn:test", "helpful_base_cn:test"],
            preprocess=hh_rlhf_cn,
            task="preference",
            languages=["zh"],
            tags=["preference", "rlhf", "multi-turn"],
            description=(
                "Anthropic hh-rlhf translated to Chinese (subsets harmless_base_cn, helpful_base_cn):"
                " 'context' = [{role: human | assistant, text}] ending on a human turn, 'chosen' / 'rejected'"
                " = one {role: assistant, text} each."
            ),
        ),
        DatasetSpec(
            name="shareai-dpo-zh",
            hub={
                "modelscope": "hjh0119/shareAI-Llama3-DPO-zh-en-emoji",
                "huggingface": "shareAI/DPO-zh-en-emoji",
            },
            preprocess=shareai_dpo_zh,
            task="preference",
            languages=["zh"],
            tags=["preference", "emoji"],
            description=(
                "shareAI's Llama3 DPO set: 'question', a Chinese answer with emoji ('answer_zh', chosen) and an"
                " English one ('answer_en', rejected) — teaches answering Chinese questions in Chinese."
            ),
        ),
    ]
