"""Generation in batches (eval, ftcore eval, ftcore infer --dataset-sample): greedy answers equal the
one-at-a-time path, with left padding, per-row stop words and stop ids, in the prompts' order."""

from __future__ import annotations

import io
from typing import Any

import pytest

from ftcore.inference import generate_batch, inference

QUERIES = ["tell me a story", "hi", "what is the capital of france? answer in one word please", "2 + 2 = ?",
           "name a colour", "why is the sky blue, and why are sunsets red?", "ok"]
GREEDY = {"do_sample": False, "max_new_tokens": 16}


def _prompts(template: Any) -> list[list[int]]:
    return [list(template.encode_prompt([{"role": "user", "content": q}])) for q in QUERIES]


def _count_generate(model: Any, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = model.generate

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(int(kwargs["input_ids"].shape[0]))
        return real(*args, **kwargs)

    monkeypatch.setattr(model, "generate", counting)
    return calls


def test_greedy_batches_equal_one_at_a_time(loaded, monkeypatch: pytest.MonkeyPatch) -> None:
    model, _, template, _ = loaded
    prompts = _prompts(template)
    assert len({len(p) for p in prompts}) > 3  # the batch really pads
    one_by_one = [inference(model, template, input_ids=p, **GREEDY) for p in prompts]
    calls = _count_generate(model, monkeypatch)
    batched = generate_batch(model, template, prompts, batch_size=4, **GREEDY)
    assert batched == one_by_one
    assert calls == [4, 3]  # two generate calls, not seven


def test_rows_stop_on_their_own_stop_words(loaded, make_recording) -> None:
    model, _, template, _ = loaded
    prompts = _prompts(template)
    full = [inference(model, template, input_ids=p, **GREEDY) for p in prompts]
    word = next(a[2:5] for a in full if len(a) > 6)  # a stop word that some rows meet early and others never
    stopped = make_recording(template, stop_words=[*template.stop_words, word])
    expected = [inference(model, stopped, input_ids=p, **GREEDY) for p in prompts]
    assert any(e != f for e, f in zip(expected, full, strict=True))
    assert generate_batch(model, stopped, prompts, batch_size=len(prompts), **GREEDY) == expected


def test_rows_end_at_their_stop_ids(loaded, make_recording) -> None:
    model, tokenizer, template, _ = loaded
    prompts = _prompts(template)
    full = [inference(model, template, input_ids=p, **GREEDY) for p in prompts]
    first = next(a for a in full if len(a) > 6)
    stop_id = tokenizer.encode(first, add_special_tokens=False)[2]  # a token some rows emit early, others never
    stopped = make_recording(template)
    stopped.stop_token_ids = [*template.stop_token_ids, stop_id]
    expected = [inference(model, stopped, input_ids=p, **GREEDY) for p in prompts]
    assert any(e != f for e, f in zip(expected, full, strict=True))
    assert generate_batch(model, stopped, prompts, batch_size=len(prompts), **GREEDY) == expected


def test_eval_records_and_dataset_samples_use_batches(loaded, monkeypatch: pytest.MonkeyPatch) -> None:
    from ftcore.inference.evaluate import generate_records

    model, tokenizer, template, cfg = loaded
    rows = []
    for q in QUERIES:
        enc = template.encode([{"role": "user", "content": q}, {"role": "assistant", "content": "an answer"}])
        rows.append({"input_ids": list(enc["input_ids"]), "labels": list(enc["labels"])})
    one = generate_records(model, template, rows, dict(GREEDY), batch_size=1)
    calls = _count_generate(model, monkeypatch)
    batched = generate_records(model, template, rows, dict(GREEDY), batch_size=8)
    assert calls == [len(QUERIES)]
    assert [r["prediction"] for r in batched] == [r["prediction"] for r in one]
    assert [r["reference"] for r in batched] == ["an answer"] * len(QUERIES)
    monkeypatch.undo()

    from ftcore.inference import dataset_samples

    calls = _count_generate(model, monkeypatch)
    out = io.StringIO()
    records = dataset_samples(model, template, cfg, 3, generation=GREEDY, stream=True, out=out, batch_size=8)
    assert len(records) == 3 and calls == [3]
    assert out.getvalue().count("[OUTPUT]") == 3


def test_cli_batch_size_reaches_eval_and_infer(monkeypatch: pytest.MonkeyPatch) -> None:
    import ftcore.inference as inference_pkg
    import ftcore.inference.evaluate as evaluate
    from ftcore.cli import build_parser

    seen: dict[str, Any] = {}
    monkeypatch.setattr(evaluate, "evaluate_checkpoint", lambda ckpt, **kw: seen.update(eval=kw["batch_size"]))
    monkeypatch.setattr(inference_pkg, "infer_main", lambda ckpt, q, **kw: seen.update(infer=kw["batch_size"]))
    # a stand-in SFT checkpoint: eval reads its stage (preference stages are scored otherwise), infer its merge_lora
    monkeypatch.setattr("ftcore.inference.checkpoint.resolve_checkpoint", lambda c: c)
    monkeypatch.setattr("ftcore.inference.checkpoint.checkpoint_config",
                        lambda c: type("C", (), {"infer": type("I", (), {"merge_lora": False})(),
                                                 "train": type("T", (), {"stage": "sft"})()})())
    args = build_parser().parse_args(["eval", "some/ckpt", "--batch-size", "4"])
    args.func(args)
    args = build_parser().parse_args(["infer", "some/ckpt", "--dataset-sample", "3", "--batch-size", "2"])
    args.func(args)
    assert seen == {"eval": 4, "infer": 2}
