"""Engine behaviour beyond the golden strings: tool turns, loss settings, truncation, skips, batching, jinja."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from ftcore.errors import FtcoreError
from ftcore.specs import ModelSpec
from ftcore.templates import IGNORE_INDEX, JinjaTemplate, SkipSample, Template, get_template
from ftcore.templates.display import label_runs, labelled_texts

QWEN25_TEMPLATE = (Path(__file__).parent / "qwen25_instruct.jinja").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def tok25(qwen_tok: Any) -> Any:
    t = copy.deepcopy(qwen_tok)
    t.chat_template = QWEN25_TEMPLATE
    return t


AGENT = [
    {"role": "system", "content": "S"},
    {"role": "user", "content": "北京天气?"},
    {"role": "assistant", "content": "", "tool_calls": [
        {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "北京"}}}]},
    {"role": "tool", "content": '{"temp": 20}'},
    {"role": "tool", "content": "sunny"},
    {"role": "assistant", "content": "Let me check.", "tool_calls": [{"name": "f", "arguments": {"x": 1}}]},
    {"role": "tool", "content": "ok"},
    {"role": "assistant", "content": "北京 20 度，晴。"},
]


def turns(*pairs: str) -> list[dict[str, str]]:
    out = []
    for i, text in enumerate(pairs):
        out.append({"role": "user" if i % 2 == 0 else "assistant", "content": text})
    return out


# ----------------------------------------------------------------------------------------- tool turns


@pytest.mark.parametrize("name", ["chatml", "jinja"])
def test_tool_turns_equal_qwen25_and_only_assistant_turns_carry_loss(tok25, name):
    t = get_template(name, tok25, loss_on="all")
    enc = t.encode(AGENT)
    assert enc["input_ids"] == list(tok25.apply_chat_template(AGENT, tokenize=True)["input_ids"])
    assert labelled_texts(tok25, enc) == [
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "北京"}}\n</tool_call><|im_end|>',
        'Let me check.\n<tool_call>\n{"name": "f", "arguments": {"x": 1}}\n</tool_call><|im_end|>',
        "北京 20 度，晴。<|im_end|>",
    ]
    text = tok25.decode(enc["input_ids"])
    assert "<|im_start|>user\n<tool_response>\n{\"temp\": 20}\n</tool_response>\n<tool_response>\nsunny\n" in text
    # the agent's last answer only, with ms-swift's loss_on = "last"
    assert labelled_texts(tok25, get_template(name, tok25).encode(AGENT)) == ["北京 20 度，晴。<|im_end|>"]


def test_tool_call_arguments_given_as_a_json_string_are_inserted_as_is(qwen_tok):
    msgs = [{"role": "user", "content": "q"},
            {"role": "assistant", "content": "", "tool_calls": [{"name": "f", "arguments": '{"x": 1}'}]}]
    enc = get_template("chatml", qwen_tok).encode(msgs)
    assert labelled_texts(qwen_tok, enc) == ['<tool_call>\n{"name": "f", "arguments": {"x": 1}}\n</tool_call><|im_end|>']


@pytest.mark.parametrize("alias", ["function", "observation"])
def test_tool_role_aliases(qwen_tok, alias):
    t = get_template("chatml", qwen_tok, loss_on="all")
    renamed = [dict(m, role=alias) if m["role"] == "tool" else m for m in AGENT]
    assert t.encode(renamed) == t.encode(AGENT)


def test_tool_turns_in_a_parts_template_are_user_side_context(qwen_tok):
    enc = get_template("default", qwen_tok, loss_on="all").encode(AGENT)
    text = qwen_tok.decode(enc["input_ids"])
    assert "### Human:\n<tool_response>\nok\n</tool_response>\n\n### Assistant:\n" in text
    assert all("tool_response" not in x for x in labelled_texts(qwen_tok, enc))


def test_generation_prompt_after_a_tool_result(tok25):
    t = get_template("chatml", tok25)
    prompt = t.encode_prompt(AGENT[:-1])
    assert prompt == list(tok25.apply_chat_template(AGENT[:-1], tokenize=True, add_generation_prompt=True)["input_ids"])


# ----------------------------------------------------------------------------------------- truncation


def test_left_truncation_keeps_the_last_tokens_aligned(qwen_tok):
    msgs = turns("q" * 50, "a" * 50, "question", "answer")
    full = get_template("chatml", qwen_tok).encode(msgs)
    cut = get_template("chatml", qwen_tok, max_length=12).encode(msgs)
    assert cut["input_ids"] == full["input_ids"][-12:] and cut["labels"] == full["labels"][-12:]


def test_right_truncation_keeps_the_first_tokens_and_skips_when_no_label_is_left(qwen_tok):
    msgs = turns("question one", "short", "question two", "a long answer " * 20)
    t = get_template("chatml", qwen_tok, loss_on="all", max_length=30, truncation="right")
    enc = t.encode(msgs)
    assert len(enc["input_ids"]) == 30
    assert labelled_texts(qwen_tok, enc)[0] == "short<|im_end|>"
    with pytest.raises(SkipSample, match="too long"):
        get_template("chatml", qwen_tok, max_length=30, truncation="right").encode(msgs)


def test_drop_truncation_and_no_limit(qwen_tok):
    msgs = turns("q", "a")
    n = len(get_template("chatml", qwen_tok).encode(msgs)["input_ids"])
    assert len(get_template("chatml", qwen_tok, max_length=n, truncation="drop").encode(msgs)["input_ids"]) == n
    with pytest.raises(SkipSample) as exc:
        get_template("chatml", qwen_tok, max_length=n - 1, truncation="drop").encode(msgs)
    assert exc.value.reason == "too long"
    assert get_template("chatml", qwen_tok, max_length=-1).max_length is None


def test_left_truncation_never_leaves_zero_labels(qwen_tok):
    # a long unlabelled tail (the chatml '\n' after <|im_end|>) cannot push the answer out entirely
    t = get_template("chatml", qwen_tok, max_length=1)
    with pytest.raises(SkipSample, match="too long"):
        t.encode(turns("q", "a"))
    assert len(get_template("chatml", qwen_tok, max_length=2).encode(turns("q", "a"))["input_ids"]) == 2


def test_prompt_is_cut_from_the_left(qwen_tok):
    t = get_template("chatml", qwen_tok)
    full = t.encode_prompt(turns("x " * 40))
    assert get_template("chatml", qwen_tok, max_length=8).encode_prompt(turns("x " * 40)) == full[-8:]


# ----------------------------------------------------------------------------------------- skips and inputs


@pytest.mark.parametrize(
    "msgs, reason",
    [
        ([{"role": "user", "content": "only a question"}], "no assistant turn"),
        ([{"role": "user", "content": "q"}, {"role": "system", "content": "late"},
          {"role": "assistant", "content": "a"}], "misplaced system message"),
        ([{"role": "wizard", "content": "q"}, {"role": "assistant", "content": "a"}], "bad message"),
        ([{"role": "user", "content": 3}, {"role": "assistant", "content": "a"}], "bad message"),
        ("not a list", "bad message"),
    ],
)
@pytest.mark.parametrize("name", ["chatml", "jinja"])
def test_unusable_samples_are_skipped_with_a_reason(qwen_tok, msgs, reason, name):
    with pytest.raises(SkipSample) as exc:
        get_template(name, qwen_tok).encode(msgs)
    assert exc.value.reason == reason


def test_trailing_user_turn_is_dropped_and_leading_answer_has_an_empty_query(qwen_tok):
    t = get_template("chatml", qwen_tok, system="S")
    assert t.encode(turns("q", "a", "unanswered")) == t.encode(turns("q", "a"))
    enc = t.encode([{"role": "assistant", "content": "a"}])
    assert qwen_tok.decode(enc["input_ids"]).startswith("<|im_start|>system\nS<|im_end|>\n<|im_start|>user\n<|im_end|>")


def test_content_blocks_and_role_aliases(qwen_tok):
    t = get_template("chatml", qwen_tok)
    blocks = [{"role": "human", "content": [{"type": "text", "text": "he"}, {"type": "text", "text": "llo"}]},
              {"role": "gpt", "content": "hi"}]
    assert t.encode(blocks) == t.encode(turns("hello", "hi"))


def test_encode_batch_matches_encode_and_keeps_skips_in_place(qwen_tok):
    t = get_template("chatml", qwen_tok, loss_on="all")
    convs = [turns("a", "b"), [{"role": "user", "content": "x"}], turns("你好", "世界", "再见", "拜拜")]
    out = t.encode_batch(convs)
    assert out[0] == t.encode(convs[0]) and out[2] == t.encode(convs[2])
    assert isinstance(out[1], SkipSample) and out[1].reason == "no assistant turn"


def test_encode_prompt_needs_an_open_user_turn(qwen_tok):
    with pytest.raises(FtcoreError):
        get_template("chatml", qwen_tok).encode_prompt(turns("q", "a"))


def test_settings_are_validated(qwen_tok):
    with pytest.raises(FtcoreError, match="truncation"):
        get_template("chatml", qwen_tok, truncation="middle")
    with pytest.raises(FtcoreError, match="loss_on"):
        get_template("chatml", qwen_tok, loss_on="first")
    with pytest.raises(FtcoreError, match="max_length"):
        get_template("chatml", qwen_tok, max_length=0)


def test_fingerprint_follows_the_settings(qwen_tok):
    a = get_template("chatml", qwen_tok)
    assert a.fingerprint() == get_template("chatml", qwen_tok).fingerprint()
    assert a.fingerprint() != get_template("chatml", qwen_tok, loss_on="all").fingerprint()
    assert a.fingerprint() != get_template("default", qwen_tok).fingerprint()


# ----------------------------------------------------------------------------------------- jinja and lookup


def test_template_lookup(qwen_tok):
    assert isinstance(get_template(None, qwen_tok), JinjaTemplate)  # the tokenizer has a chat_template
    spec = ModelSpec(name="x", path="/tmp/x", template="chatml")
    t = get_template(None, qwen_tok, model_spec=spec)
    assert type(t) is Template and t.name == "chatml"
    bare = copy.deepcopy(qwen_tok)
    bare.chat_template = None
    assert get_template(None, bare).name == "default"
    with pytest.raises(FtcoreError, match="chat_template"):
        get_template("jinja", bare)
    with pytest.raises(FtcoreError, match="unknown template"):
        get_template("no-such-template", qwen_tok)


def test_jinja_system_setting_and_turn_end(qwen_tok, tok25):
    t = get_template("jinja", tok25)
    assert t.turn_end == "<|im_end|>" and t.stop_token_ids == [qwen_tok.eos_token_id]
    no_system = t.encode(turns("q", "a"))
    assert "You are Qwen" in tok25.decode(no_system["input_ids"])  # the chat_template's own default
    with_system = get_template("jinja", tok25, system="Be brief.").encode(turns("q", "a"))
    assert "<|im_start|>system\nBe brief.<|im_end|>" in tok25.decode(with_system["input_ids"])


def test_jinja_train_on_prompt_and_truncation(tok25):
    enc = get_template("jinja", tok25, train_on_prompt=True).encode(turns("q", "a"))
    assert enc["labels"] == enc["input_ids"]
    cut = get_template("jinja", tok25, max_length=5).encode(turns("q", "a"))
    assert len(cut["input_ids"]) == 5 and cut["labels"][-1] == IGNORE_INDEX  # the trailing '\n'


def test_labels_carry_their_own_ids(tok25):
    for name in ("chatml", "jinja"):
        enc = get_template(name, tok25, loss_on="all").encode(AGENT)
        assert all(lab in (IGNORE_INDEX, tid) for tid, lab in zip(enc["input_ids"], enc["labels"], strict=True))
        assert label_runs(tok25, enc["input_ids"], enc["labels"])[0][0] is False


def test_default_system_is_the_configs():
    from ftcore.config import DEFAULT_SYSTEM as CONFIG_DEFAULT
    from ftcore.templates import DEFAULT_SYSTEM

    assert DEFAULT_SYSTEM == CONFIG_DEFAULT == "you are a helpful assistant!"


def test_slow_tokenizer_path_tokenizes_in_pieces(qwen_tok):
    """Without a Rust backend (slow tokenizers) each labelled / unlabelled piece is tokenized on its own."""
    fast = get_template("chatml", qwen_tok, loss_on="all")
    slow = get_template("chatml", qwen_tok, loss_on="all")
    slow._backend = None
    msgs = AGENT[1:]
    assert slow.encode(msgs) == fast.encode(msgs)
    assert slow.encode_prompt(msgs[:-1]) == fast.encode_prompt(msgs[:-1])


def test_templates_pickle_for_multiprocess_encoding(qwen_tok):
    import pickle

    msgs = turns("hi", "yo")
    for name in ("chatml", "jinja"):
        t = get_template(name, qwen_tok, loss_on="all")
        again = pickle.loads(pickle.dumps(t))
        assert again.encode(msgs) == t.encode(msgs) and again.fingerprint() == t.fingerprint()


def test_round_placeholders_and_a_plugin_style_spec(qwen_tok):
    from ftcore.specs import TemplateSpec

    spec = TemplateSpec(name="rounds", prompt=["R{{ROUND0}}/{{ROUND1}}:{{QUERY}}\n"], chat_sep=[], suffix=[["eos_token_id"]])
    enc = Template(spec, qwen_tok, loss_on="all").encode(turns("a", "b", "{{ROUND1}}", "d"))
    # placeholders inside user text are left alone (ms-swift substituted them)
    assert qwen_tok.decode(enc["input_ids"]) == "R0/1:a\nbR1/2:{{ROUND1}}\nd<|im_end|>"
    assert labelled_texts(qwen_tok, enc) == ["b", "d<|im_end|>"]
    tigerbot = TemplateSpec(  # the docs' example plugin template
        name="tigerbot", prompt=["\n\n### Instruction:\n{{QUERY}}\n\n### Response:\n"], chat_sep=[],
        suffix=[["eos_token_id"]],
    )
    enc = Template(tigerbot, qwen_tok).encode(turns("q", "a"))
    assert qwen_tok.decode(enc["input_ids"]) == "\n\n### Instruction:\nq\n\n### Response:\na<|im_end|>"
    assert labelled_texts(qwen_tok, enc) == ["a<|im_end|>"]
