"""``ftcore template check``: ftcore's template against the tokenizer's own chat_template, token by token.

A fixed set of conversations (single / multi-turn, with / without / empty system, Chinese and English,
multi-line text) is encoded twice: by the template (``encode`` for the training form, ``encode_prompt`` for the
generation prompt) and by ``tokenizer.apply_chat_template``. Any token that differs is reported.

Known, documented differences (a spec's ``known_differences``) are taken into account:

* ``default-system: …`` — the template uses its own default system prompt where the chat_template uses
  another (or none): conversations without a system message are compared with ftcore's system made explicit,
  and the report notes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ftcore.errors import FtcoreError
from ftcore.templates.base import SkipSample, Template

#: (name, messages) — the conversations every check renders
CHECK_CONVERSATIONS: list[tuple[str, list[dict[str, str]]]] = [
    ("single-turn en", [
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "The capital of France is Paris."},
    ]),
    ("single-turn zh", [
        {"role": "user", "content": "你好，请介绍一下你自己。"},
        {"role": "assistant", "content": "你好！我是一个人工智能助手，很高兴为你服务。"},
    ]),
    ("system en", [
        {"role": "system", "content": "You are a terse assistant."},
        {"role": "user", "content": "Name three primary colours."},
        {"role": "assistant", "content": "Red, yellow and blue."},
    ]),
    ("empty system", [
        {"role": "system", "content": ""},
        {"role": "user", "content": "Say hi."},
        {"role": "assistant", "content": "Hi!"},
    ]),
    ("multi-turn en", [
        {"role": "user", "content": "I have 3 apples."},
        {"role": "assistant", "content": "Okay, you have 3 apples."},
        {"role": "user", "content": "I eat one. How many are left?"},
        {"role": "assistant", "content": "You have 2 apples left."},
        {"role": "user", "content": "And if I buy 5 more?"},
        {"role": "assistant", "content": "Then you have 7 apples."},
    ]),
    ("multi-turn zh with system", [
        {"role": "system", "content": "你是一个乐于助人的助手。"},
        {"role": "user", "content": "北京是哪个国家的首都？"},
        {"role": "assistant", "content": "北京是中国的首都。"},
        {"role": "user", "content": "那上海呢？"},
        {"role": "assistant", "content": "上海是中国最大的城市之一，但不是首都。"},
    ]),
    ("multi-line mixed", [
        {"role": "user", "content": "Write a Python function that adds two numbers.\n用中文解释。"},
        {"role": "assistant", "content": "```python\ndef add(a, b):\n    return a + b\n```\n这个函数返回 a 与 b 的和。"},
    ]),
]


@dataclass
class CheckItem:
    """One comparison: a conversation in its training form (``train``) or as a generation prompt (``prompt``)."""

    name: str
    form: str
    ok: bool
    ours: list[int] = field(default_factory=list)
    reference: list[int] = field(default_factory=list)
    first_diff: int | None = None
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None


@dataclass
class CheckReport:
    template: str
    items: list[CheckItem]
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(i.ok for i in self.items)

    @property
    def failures(self) -> list[CheckItem]:
        return [i for i in self.items if not i.ok]


def _known(template: Template, key: str) -> str | None:
    for text in template.spec.known_differences:
        if text.split(":", 1)[0].strip() == key:
            return text
    return None


def _first_diff(a: list[int], b: list[int]) -> int | None:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def _reference(tokenizer: Any, messages: list[dict[str, str]], generation: bool) -> list[int]:
    out = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=generation)
    ids = out["input_ids"] if isinstance(out, dict) or hasattr(out, "keys") else out
    return list(ids)


def check_template(
    template: Template,
    conversations: list[tuple[str, list[dict[str, str]]]] | None = None,
) -> CheckReport:
    """Compare ``template`` with its tokenizer's chat_template on ``conversations`` (default: the fixed set)."""
    tokenizer = template.tokenizer
    if not getattr(tokenizer, "chat_template", None):
        raise FtcoreError("the tokenizer has no chat_template to check against")
    conversations = CHECK_CONVERSATIONS if conversations is None else conversations
    default_system = _known(template, "default-system")
    report = CheckReport(template.name, [])
    if default_system:
        report.notes.append(f"known difference, {default_system}")
    saved = (template.max_length, template.loss_on, template.train_on_prompt)
    template.configure(max_length=None, loss_on="last", train_on_prompt=False)
    try:
        for name, messages in conversations:
            ref_messages = list(messages)
            offset = 0  # messages added to the reference side
            notes = []
            has_system = bool(messages) and messages[0]["role"] == "system"
            if not has_system and default_system and template.has_system and template.system is not None:
                ref_messages = [{"role": "system", "content": template.system}, *messages]
                offset = 1
                notes.append("compared with ftcore's default system made explicit")
            last_user = max(i for i, m in enumerate(messages) if m["role"] == "user")
            for form, ours_msgs, ref_msgs, generation in (
                ("train", messages, ref_messages, False),
                ("prompt", messages[: last_user + 1], ref_messages[: last_user + 1 + offset], True),
            ):
                try:
                    ours = (
                        template.encode_prompt(ours_msgs) if generation else template.encode(ours_msgs)["input_ids"]
                    )
                except SkipSample as exc:
                    report.items.append(CheckItem(name, form, True, skipped=exc.reason, notes=notes))
                    continue
                ref = _reference(tokenizer, ref_msgs, generation)
                diff = _first_diff(ours, ref)
                report.items.append(CheckItem(name, form, diff is None, ours, ref, diff, list(notes)))
    finally:
        template.configure(max_length=saved[0], loss_on=saved[1], train_on_prompt=saved[2])
    return report


def _window(tokenizer: Any, ids: list[int], at: int, width: int = 4) -> str:
    lo, hi = max(0, at - width), min(len(ids), at + width + 1)
    parts = [repr(tokenizer.decode([t])) for t in ids[lo:hi]]
    mark = at - lo
    if mark < len(parts):
        parts[mark] = f">>{parts[mark]}<<"
    else:
        parts.append(">>(end)<<")
    return ("… " if lo else "") + " ".join(parts) + (" …" if hi < len(ids) else "")


def format_report(report: CheckReport, tokenizer: Any) -> str:
    """The report as text: one line per comparison, a token window around each first difference."""
    lines = [f"template {report.template!r} vs the tokenizer's chat_template"]
    lines += [f"  note: {n}" for n in report.notes]
    for item in report.items:
        label = f"{item.name} [{item.form}]"
        if item.skipped:
            lines.append(f"  skip  {label}: {item.skipped}")
            continue
        if item.ok:
            lines.append(f"  ok    {label} ({len(item.ours)} tokens)")
            continue
        at = item.first_diff or 0
        lines.append(
            f"  DIFF  {label}: first difference at token {at} "
            f"(ftcore {len(item.ours)} tokens, chat_template {len(item.reference)})"
        )
        lines.append(f"        ftcore:        {_window(tokenizer, item.ours, at)}")
        lines.append(f"        chat_template: {_window(tokenizer, item.reference, at)}")
    n_bad = len(report.failures)
    lines.append(f"{len(report.items) - n_bad} of {len(report.items)} match" + ("" if report.ok else f"; {n_bad} differ"))
    return "\n".join(lines)


def report_as_dict(report: CheckReport) -> dict[str, Any]:
    return {
        "template": report.template,
        "ok": report.ok,
        "notes": report.notes,
        "items": [
            {
                "name": i.name,
                "form": i.form,
                "ok": i.ok,
                "skipped": i.skipped,
                "first_diff": i.first_diff,
                "ours": i.ours,
                "reference": i.reference,
                "notes": i.notes,
            }
            for i in report.items
        ],
    }
