"""Generation: the template's prompt and stop tokens, streaming deltas, stop words, generation settings."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ftcore.errors import FtcoreError
from ftcore.inference import (
    StopWordFilter,
    build_messages,
    generation_settings,
    inference,
    inference_stream,
    stop_token_ids,
)

GREEDY = {"do_sample": False, "max_new_tokens": 12}


# ---------------------------------------------------------------------------------------------- pure helpers


def _cut(text: str, words: list[str]) -> str:
    hits = [text.find(w) for w in words if w and w in text]
    return text[: min(hits)] if hits else text


@given(
    text=st.text(alphabet="ab<|>x\n", max_size=40),
    cuts=st.lists(st.integers(0, 40), max_size=8),
    words=st.lists(st.text(alphabet="ab<|>", min_size=1, max_size=4), max_size=3),
)
def test_stop_word_filter_cuts_a_stream_like_the_whole_text(
    text: str, cuts: list[int], words: list[str]
) -> None:
    bounds = sorted({min(c, len(text)) for c in cuts} | {0, len(text)})
    chunks = [text[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    f = StopWordFilter(words)
    streamed = "".join(f.feed(c) for c in chunks) + f.flush()
    assert streamed == _cut(text, words)


def test_build_messages_accepts_pairs_and_message_dicts() -> None:
    assert build_messages("q2", [("q1", "r1")], system="S") == [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "r1"},
        {"role": "user", "content": "q2"},
    ]
    history = [{"role": "user", "content": "q1"}, {"role": "assistant", "content": "r1"}]
    assert build_messages("q2", history)[-1] == {"role": "user", "content": "q2"}
    assert len(build_messages("q2", history)) == 3
    with pytest.raises(FtcoreError, match="history"):
        build_messages("q", ["not a pair"])


def test_generation_settings_defaults_overrides_and_errors() -> None:
    gen = generation_settings()
    assert (
        gen.max_new_tokens,
        gen.do_sample,
        gen.temperature,
        gen.top_k,
        gen.top_p,
        gen.repetition_penalty,
    ) == (2048, True, 0.9, 20, 0.9, 1.05)  # ms-swift's defaults
    gen = generation_settings({"max_new_tokens": 5}, temperature=0.5, top_k=None)
    assert (gen.max_new_tokens, gen.temperature, gen.top_k) == (5, 0.5, 20)
    with pytest.raises(FtcoreError, match="unknown generation option 'beams'"):
        generation_settings(beams=2)
    with pytest.raises(FtcoreError, match="generation.top_p") as info:
        generation_settings(top_p=2.0)
    assert "\n" not in str(info.value)


# ------------------------------------------------------------------------------------------ with a model


def test_prompt_and_stop_tokens_come_from_the_template(loaded, monkeypatch: pytest.MonkeyPatch) -> None:
    model, tokenizer, template, _ = loaded
    seen: dict[str, Any] = {}
    real = model.generate

    def spy(**kwargs: Any) -> Any:
        seen.update(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(model, "generate", spy)
    inference(model, template, "q2", [("q1", "r1")], **GREEDY)
    prompt = template.encode_prompt(build_messages("q2", [("q1", "r1")]))
    assert seen["input_ids"][0].tolist() == prompt
    text = tokenizer.decode(prompt)
    assert text.endswith("<|im_start|>user\nq2<|im_end|>\n<|im_start|>assistant\n")  # an open assistant turn
    eos = seen["generation_config"].eos_token_id
    assert set(template.stop_token_ids) <= set(eos)
    assert tokenizer.convert_tokens_to_ids("<|im_end|>") in eos
    assert stop_token_ids(template) == list(eos)


def test_system_none_keeps_the_runs_system_prompt(loaded, make_recording) -> None:
    model, tokenizer, template, cfg = loaded
    rec = make_recording(template)
    inference(model, rec, "hi", **GREEDY)
    inference(model, rec, "hi", system="be brief", **GREEDY)
    assert rec.prompts[0] == [{"role": "user", "content": "hi"}]
    assert rec.prompts[1][0] == {"role": "system", "content": "be brief"}


def test_stream_deltas_join_to_the_full_answer(loaded) -> None:
    model, _, template, _ = loaded
    settings = {"do_sample": False, "max_new_tokens": 24}
    full = inference(model, template, "tell me a story", **settings)
    deltas = list(inference_stream(model, template, "tell me a story", **settings))
    assert len(deltas) > 1
    assert all(isinstance(d, str) and d for d in deltas)
    assert "".join(deltas) == full


def test_stop_words_cut_the_answer_in_both_paths(loaded, make_recording) -> None:
    model, _, template, _ = loaded
    settings = {"do_sample": False, "max_new_tokens": 24}
    full = inference(model, template, "tell me a story", **settings)
    assert len(full) > 6
    word = full[3:6]
    stopped = make_recording(template, stop_words=[*template.stop_words, word])
    expected = full[: full.index(word)]
    assert inference(model, stopped, "tell me a story", **settings) == expected
    assert "".join(inference_stream(model, stopped, "tell me a story", **settings)) == expected


def test_closing_a_stream_early_stops_generation(loaded) -> None:
    model, _, template, _ = loaded
    stream = inference_stream(model, template, "go on", do_sample=False, max_new_tokens=200)
    first = next(stream)
    assert first
    stream.close()  # joins the generation thread; must not hang


def test_sampling_is_reproducible_with_a_seed(loaded) -> None:
    from transformers import set_seed

    model, _, template, _ = loaded
    set_seed(7)
    a = inference(model, template, "hi", max_new_tokens=10, do_sample=True, temperature=1.0)
    set_seed(7)
    b = inference(model, template, "hi", max_new_tokens=10, do_sample=True, temperature=1.0)
    assert a == b


def test_errors_in_generation_reach_the_stream_consumer(loaded) -> None:
    model, _, template, _ = loaded
    with pytest.raises(Exception, match="out of range|index|size"):
        list(inference_stream(model, template, input_ids=[10**9], max_new_tokens=3))


def test_ftcore_answer_is_the_inference_function_and_ftcore_inference_the_package(loaded) -> None:
    import types

    import ftcore
    import ftcore.inference.main  # noqa: F401 - importing a submodule binds ftcore.inference to the package

    model, _, template, _ = loaded
    assert isinstance(ftcore.inference, types.ModuleType) and not callable(ftcore.inference)
    assert ftcore.inference.load_checkpoint is ftcore.load_checkpoint
    assert ftcore.answer is inference is ftcore.inference.inference  # ms-swift's name, in the package
    assert ftcore.answer(model, template, "hi", **GREEDY) == inference(model, template, "hi", **GREEDY)
