"""``ftcore serve`` answers the official openai client on 127.0.0.1: models, chat (streamed and not), completions,
sampling options and usage — with the answers ``ftcore infer`` gives for the same checkpoint and conversation."""

from __future__ import annotations

from typing import Any

import pytest

MAIN, OTHER = "tiny", "b"  # the served names (conftest.py)

QUESTION = "Who are you?"


def chat(client: Any, content: str = QUESTION, model: str = MAIN, **kw: Any) -> Any:
    kw.setdefault("max_tokens", 12)
    kw.setdefault("temperature", 0)
    return client.chat.completions.create(model=model, messages=[{"role": "user", "content": content}], **kw)


def test_models_lists_the_checkpoint_and_each_adapter(client: Any) -> None:
    models = client.models.list()
    assert [m.id for m in models.data] == [MAIN, OTHER]
    assert all(m.object == "model" and m.owned_by == "ftcore" for m in models.data)
    assert client.models.retrieve(OTHER).id == OTHER


def test_prompt_and_stop_ids_are_the_training_templates(engine: Any, reference: Any) -> None:
    """The served prompt of a conversation (system prompt, earlier turns) is the ids the run's Template encodes for
    ftcore infer, and generation stops on the same ids."""
    from ftcore.inference import build_messages, stop_token_ids
    from ftcore.serve.models import chat_prompt_ids

    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello!"}]
    messages = [{"role": "system", "content": "Be brief."}, *history, {"role": "user", "content": QUESTION}]
    for name in (MAIN, OTHER):
        template = reference.loaded[name][2]
        served = engine.models[name]
        expected = template.encode_prompt(build_messages(QUESTION, history, "Be brief."))
        assert chat_prompt_ids(served, messages) == expected
        assert chat_prompt_ids(served, [{**messages[0], "role": "developer"}, *messages[1:]]) == expected
        assert served.stop_ids == stop_token_ids(template) and served.stop_ids
        assert type(served.template) is type(template) and served.template.spec.name == template.spec.name
    assert chat_prompt_ids(engine.models[MAIN], [{"role": "user", "content": [{"type": "text", "text": "a"},
                                                                               {"type": "text", "text": "b"}]}]) \
        == reference.loaded[MAIN][2].encode_prompt(build_messages("ab"))


def test_chat_answers_as_ftcore_infer_with_each_adapter(client: Any, reference: Any) -> None:
    answers = {}
    for name in (MAIN, OTHER):
        out = chat(client, model=name)
        answers[name] = out.choices[0].message.content
        assert out.model == name and out.object == "chat.completion"
        assert answers[name] == reference(name, QUESTION)
        assert out.choices[0].message.role == "assistant" and out.choices[0].finish_reason in ("stop", "length")
        ids = reference.loaded[name][2].encode_prompt([{"role": "user", "content": QUESTION}])
        assert out.usage.prompt_tokens == len(ids)
        assert 0 < out.usage.completion_tokens <= 12
        assert out.usage.total_tokens == out.usage.prompt_tokens + out.usage.completion_tokens
    assert answers[MAIN] != answers[OTHER]  # the request's model picks the adapter


def test_system_prompt_and_multi_turn(client: Any, reference: Any) -> None:
    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello!"}]
    messages = [{"role": "system", "content": "Be brief."}, *history, {"role": "user", "content": QUESTION}]
    out = client.chat.completions.create(model=MAIN, messages=messages, max_tokens=12, temperature=0)
    assert out.choices[0].message.content == reference(MAIN, QUESTION, history, "Be brief.")
    alone = chat(client)
    assert out.usage.prompt_tokens > alone.usage.prompt_tokens


def test_streaming_chat_reassembles_to_the_answer(client: Any) -> None:
    whole = chat(client, max_tokens=20)
    chunks = list(chat(client, max_tokens=20, stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1  # streamed, not one piece
    finished = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finished == [whole.choices[0].finish_reason]
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    assert chunks[-1].usage.prompt_tokens == whole.usage.prompt_tokens


def test_completions_plain_and_streamed(client: Any, engine: Any) -> None:
    out = client.completions.create(model=MAIN, prompt="The answer is", max_tokens=10, temperature=0, n=2)
    assert out.object == "text_completion" and len(out.choices) == 2
    assert out.choices[0].text == out.choices[1].text and out.choices[0].text  # greedy: n equal answers
    tok = engine.models[MAIN].template.tokenizer
    assert out.usage.prompt_tokens == len(tok.encode("The answer is"))
    assert out.usage.completion_tokens == 2 * (out.usage.completion_tokens // 2)
    streamed = client.completions.create(model=MAIN, prompt="The answer is", max_tokens=10, temperature=0,
                                         stream=True)
    assert "".join(c.choices[0].text for c in streamed if c.choices) == out.choices[0].text
    two = client.completions.create(model=MAIN, prompt=["The answer is", "Hello"], max_tokens=4, temperature=0)
    assert [c.index for c in two.choices] == [0, 1] and two.choices[0].text.startswith(out.choices[0].text[:1])


def test_sampling_with_a_seed_repeats_and_n_gives_n_choices(client: Any) -> None:
    first = chat(client, temperature=1.0, top_p=0.9, seed=7, n=3, max_tokens=8)
    again = chat(client, temperature=1.0, top_p=0.9, seed=7, n=3, max_tokens=8)
    texts = [c.message.content for c in first.choices]
    assert [c.index for c in first.choices] == [0, 1, 2]
    assert texts == [c.message.content for c in again.choices]
    assert len(set(texts)) > 1  # sampled, not greedy
    assert 3 <= first.usage.completion_tokens <= 24


def test_stop_sequences_cut_the_answer(client: Any) -> None:
    whole = chat(client, max_tokens=20).choices[0].message.content
    word = whole[len(whole) // 2: len(whole) // 2 + 2]
    assert word.strip()
    cut = chat(client, max_tokens=20, stop=[word]).choices[0]
    assert cut.message.content == whole[: whole.index(word)]
    assert cut.finish_reason == "stop"
    streamed = "".join(c.choices[0].delta.content or "" for c in chat(client, max_tokens=20, stop=word, stream=True)
                       if c.choices)
    assert streamed == cut.message.content


@pytest.mark.slow
def test_16_concurrent_requests_each_get_their_own_answer(client: Any, engine: Any) -> None:
    """16 different questions at once (both adapters), greedy: each answer is the one the question gets alone, and
    the requests were batched."""
    from concurrent.futures import ThreadPoolExecutor

    questions = [(MAIN if i % 2 else OTHER, f"Question {i}: what is {i} times {i + 3}?" + " Please." * (i % 5))
                 for i in range(16)]
    alone = [chat(client, q, model=m).choices[0].message.content for m, q in questions]
    assert len(set(alone)) > 8
    batches = engine.batches
    with ThreadPoolExecutor(16) as pool:
        together = list(pool.map(lambda mq: chat(client, mq[1], model=mq[0]).choices[0].message.content, questions))
    assert together == alone
    assert engine.batches - batches < 16


@pytest.mark.slow
def test_a_model_serves_the_base_with_adapters_off(checkpoints: Any, reference: Any) -> None:
    """``ftcore serve MODEL --adapter x=CKPT``: the model's name answers with the plain base model, ``x`` with the
    adapter (as ftcore infer answers with that checkpoint); both in one process, adapters switched per batch."""
    import asyncio

    from transformers import AutoModelForCausalLM

    from ftcore.inference import inference
    from ftcore.models.hub import materialize_builtin
    from ftcore.serve import load_engine
    from ftcore.serve.engine import Delta, Job, resolve_sampling
    from ftcore.serve.models import chat_prompt_ids

    engine = load_engine("ftcore-tiny-qwen2", {"x": str(checkpoints[0])}, max_model_len=256)
    try:
        async def answer(name: str) -> str:
            served = engine.models[name]
            ids = chat_prompt_ids(served, [{"role": "user", "content": QUESTION}])
            job = Job(served, [ids], 1, resolve_sampling(served, prompt_lens=[len(ids)], max_model_len=256,
                                                         max_tokens=12, temperature=0))
            return "".join([e.text async for e in engine.run(job) if isinstance(e, Delta)])

        async def both() -> list[str]:
            return list(await asyncio.gather(answer("ftcore-tiny-qwen2"), answer("x")))

        base_answer, adapter_answer = asyncio.run(both())
        assert adapter_answer == reference(MAIN, QUESTION)
        plain = AutoModelForCausalLM.from_pretrained(materialize_builtin("tiny-qwen2")).eval()
        template = engine.models["ftcore-tiny-qwen2"].template
        generation = engine.models["ftcore-tiny-qwen2"].generation
        assert base_answer == inference(plain, template, QUESTION, generation=generation, do_sample=False,
                                        max_new_tokens=12)
        assert base_answer != adapter_answer
    finally:
        engine.close()


def test_seeded_requests_run_in_batches_of_their_own(client: Any, engine: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    alone = chat(client, temperature=1.0, seed=11, max_tokens=6).choices[0].message.content
    batches = engine.batches
    with ThreadPoolExecutor(3) as pool:
        texts = list(pool.map(lambda _: chat(client, temperature=1.0, seed=11, max_tokens=6)
                              .choices[0].message.content, range(3)))
    assert texts == [alone] * 3 and engine.batches - batches == 3
