"""One preprocessing function per raw schema of the English / multilingual ms-swift datasets.

Each takes one raw row (a dict) and returns ``{"messages": [...], "images": [...]}`` or raises
:class:`ftcore.data.formats.BadRow` for a broken row. Pure Python: importing this module loads neither
torch nor datasets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ftcore.data.formats import from_sharegpt
from ftcore.data.rows import BadRow, alpaca, chat, conversation, field, literal_turns

Row = dict[str, Any]


def smart_alpaca(row: Row) -> Row:
    """alpaca-en, multi-alpaca-all, instinwild-en, cot-en, gpt4all-en, code-alpaca-en, text2sql-en,
    finance-en: ms-swift's Smart preprocessor, which picks the Alpaca rule for these sets
    (``instruction`` / ``input`` / ``output``; query = instruction [+ "\\n" + input], response = output)."""
    return alpaca(row)


def instruct(row: Row) -> Row:
    """instruct-en: query = ``prompt``, response = ``completion``."""
    return chat(field(row, "prompt"), field(row, "completion"))


def medical_en(row: Row) -> Row:
    """medical-en: query = ``input``, response = ``output``."""
    return chat(field(row, "input"), field(row, "output"))


def sql_create_context(row: Row) -> Row:
    """sql-create-context-en: ``question`` / ``context`` / ``answer`` renamed to instruction / input / output,
    then the Alpaca rule: query = question + "\\n" + context (the CREATE TABLE statements), response = answer."""
    return alpaca(
        {"instruction": row.get("question"), "input": row.get("context"), "output": row.get("answer")}
    )


def sharegpt_rounds(row: Row) -> Row:
    """sharegpt-en: ``conversation`` is a list (or a Python-literal string) of rounds ``{human, assistant}``;
    the last round is the final exchange, earlier rounds are the history. No system prompt."""
    if row.get("conversation") is None:
        raise BadRow("missing field", "conversation")
    return from_sharegpt({"conversation": row["conversation"]})


def agent_instruct(row: Row) -> Row:
    """agent-instruct-all-en: ``conversations`` = turns ``{from: human | gpt, value}`` (a list, or a string
    whose dicts are separated by ``}\n {`` without a comma: ms-swift's repair inserts the comma, then parses
    it as a Python literal)."""
    cell = row.get("conversations")
    if isinstance(cell, str):
        cell = cell.replace("}\n {", "},\n {")
    turns = literal_turns(cell, "conversations")
    return conversation(turns, user_role="human", assistant_role="gpt", role_key="from", content_key="value")


LEETCODE_FENCE = "```python"


def leetcode_python(row: Row) -> Row:
    """leetcode-python-en: ``code_with_problem`` = problem text, then one fenced ```python block.

    query = the text before the fence (a leading "# " removed); response = the code from the fence to the
    end, stripped, + "\\n\\n" + ``explanation_only``. More than one fence, or none, is ``malformed field``
    (ms-swift asserted one fence; with none it produced a degenerate split).
    """
    text = field(row, "code_with_problem")
    first, last = text.find(LEETCODE_FENCE), text.rfind(LEETCODE_FENCE)
    if first == -1:
        raise BadRow("malformed field", "code_with_problem has no ```python block")
    if first != last:
        raise BadRow("malformed field", "code_with_problem has more than one ```python block")
    problem = text[:first]
    if problem.startswith("# "):
        problem = problem[2:]
    code = text[first:].strip()
    return chat(problem, f"{code}\n\n{field(row, 'explanation_only')}")


COCO_PROMPT = "please describe the image"


def _image_path(cell: Any) -> str:
    if isinstance(cell, str):
        return cell
    if isinstance(cell, Mapping) and isinstance(cell.get("path"), str):
        return cell["path"]
    filename = getattr(cell, "filename", None)  # a decoded PIL image still knows its file
    if isinstance(filename, str) and filename:
        return filename
    if cell is None:
        raise BadRow("missing field", "image")
    raise BadRow("wrong type", "image is not a path, a URL or {'path': ...}")


def coco_caption(row: Row) -> Row:
    """coco-en: image + caption. The user turn is ms-swift's Qwen-VL form ``<img>PATH</img>please describe
    the image``; ``images`` holds the same path / URL for templates that place images themselves.
    response = ``caption`` cut at the first ``&&`` (COCO rows join alternative captions with it)."""
    path = _image_path(row.get("image"))
    caption = field(row, "caption").split("&&")[0]
    return chat(f"<img>{path}</img>{COCO_PROMPT}", caption, images=[path])
