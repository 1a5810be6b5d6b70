"""Shared fixtures for the template tests: the real Qwen2.5 tokenizer."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="session")
def qwen_tok() -> Any:
    from ftcore.testing import qwen25_tokenizer

    return qwen25_tokenizer()
