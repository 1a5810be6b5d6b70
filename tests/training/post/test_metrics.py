"""ROUGE / BLEU on known pairs against hand-computed values (rouge-chinese counts distinct n-grams, as ms-swift)."""

from __future__ import annotations

import math

import pytest

from ftcore.inference.evaluate import bleu_tokens, rouge_tokens, score_pair, score_predictions, split_sample


def test_chinese_pair() -> None:
    # jieba: 我/爱/上海 vs 我/爱/北京
    assert rouge_tokens("我爱上海") == ["我", "爱", "上海"]
    s = score_pair("我爱上海", "我爱北京")
    assert s["rouge-1"] == pytest.approx(200 / 3, abs=1e-3)  # 2 of 3 words each way
    assert s["rouge-2"] == pytest.approx(50, abs=1e-3)  # (我,爱) of 2 bigrams
    assert s["rouge-l"] == pytest.approx(200 / 3, abs=1e-3)  # LCS 我爱 = 2 words
    # characters: p1 = 2/4, p2 = 1/3, p3 = 0/2 -> 1/(2*2), p4 = 0/1 -> 1/(4*1); no brevity penalty
    assert s["bleu-4"] == pytest.approx(100 * (0.5 * (1 / 3) * 0.25 * 0.25) ** 0.25, abs=1e-6)


def test_english_pair_by_words() -> None:
    assert bleu_tokens("the cat is on the mat") == ["the", "cat", "is", "on", "the", "mat"]
    s = score_pair("the cat is on the mat", "the cat sat on the mat")
    assert s["rouge-1"] == pytest.approx(80, abs=1e-3)  # distinct words {the,cat,is,on,mat}: 4 of 5 shared
    assert s["rouge-2"] == pytest.approx(60, abs=1e-3)  # the-cat, on-the, the-mat of 5
    assert s["rouge-l"] == pytest.approx(500 / 6, abs=1e-3)  # LCS the cat on the mat = 5 of 6 words
    # words: p1 = 5/6, p2 = 3/5, p3 = 1/4, p4 = 0/3 -> 1/(2*3)
    assert s["bleu-4"] == pytest.approx(100 * ((5 / 6) * (3 / 5) * (1 / 4) * (1 / 6)) ** 0.25, abs=1e-6)


def test_brevity_penalty_empty_and_mean() -> None:
    s = score_pair("我爱", "我爱北京")  # 2 of 4 characters: BP = exp(1 - 4/2); p1 = p2 = 1; p3, p4 too short (0/1)
    assert s["bleu-4"] == pytest.approx(100 * math.exp(-1) * (1 * 1 * 0.5 * 0.25) ** 0.25, abs=1e-6)
    assert score_pair("", "参考") == {"rouge-1": 0.0, "rouge-2": 0.0, "rouge-l": 0.0, "bleu-4": 0.0}
    mean = score_predictions(["我爱上海", ""], ["我爱北京", "x"])
    assert mean["rouge-l"] == pytest.approx(100 / 3, abs=1e-3)


def test_split_sample_at_first_label() -> None:
    assert split_sample([1, 2, 3, 4, 5], [-100, -100, 3, 4, -100]) == ([1, 2], [3, 4])
    assert split_sample([1], [-100]) is None
