"""Fixtures of the data tests: a counting fake template, file writers, run configs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ftcore.config import config_from_dict
from ftcore.specs import TemplateSpec
from ftcore.templates import SkipSample


class FakeTemplate:
    """A character-level template: one id per character, loss on the last assistant turn; counts encodes.

    Implements :class:`ftcore.templates.TemplateProtocol` (what the data stage may call)."""

    calls = 0
    spec = TemplateSpec(name="fake", prompt=["{{QUERY}}"])
    tokenizer = None
    stop_words: list[str] = []
    stop_token_ids: list[int] = []
    supports_multi_turn = True
    takes_images = False

    def __init__(self, max_length: int | None = 64, system: str | None = None):
        self.max_length = max_length
        self.system = system
        self.truncation = "drop"

    def fingerprint(self) -> str:
        return f"fake-{self.max_length}-{self.system}"

    def encode_batch(self, conversations: list[Any], images: Any = None) -> list[Any]:
        out: list[Any] = []
        for messages in conversations:
            try:
                out.append(self.encode(messages))
            except SkipSample as exc:
                out.append(exc)
        return out

    def encode_prompt(self, messages: list[dict[str, Any]]) -> list[int]:
        return [1 + (ord(c) % 200) for m in messages for c in m["content"]]

    def encode(self, messages: list[dict[str, Any]], images: Any = None) -> dict[str, list[int]]:
        type(self).calls += 1
        ids: list[int] = []
        labels: list[int] = []
        last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
        for i, m in enumerate(messages):
            piece = [1 + (ord(c) % 200) for c in m["content"]] + [2]
            ids += piece
            labels += piece if i == last else [-100] * len(piece)
        if self.max_length is not None and len(ids) > self.max_length:
            raise SkipSample("too long", f"{len(ids)} > {self.max_length}")
        return {"input_ids": ids, "labels": labels}


@pytest.fixture
def fake_template():
    FakeTemplate.calls = 0
    return FakeTemplate


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test has its own tokenized-data cache."""
    monkeypatch.setenv("FTCORE_CACHE", str(tmp_path / "ftcore-cache"))


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows),
                    encoding="utf-8")
    return path


@pytest.fixture
def jsonl():
    return write_jsonl


@pytest.fixture
def make_cfg(tmp_path: Path):
    def make(**data: Any):
        data.setdefault("sample", -1)
        data.setdefault("test_ratio", 0.0)
        train = {"max_steps": 10} if data.get("streaming") else {}
        return config_from_dict({"data": data, "train": train}, base_dir=str(tmp_path))

    return make
