"""``ftcore infer``: query mode, chat over stdin (history, clear, exit), dataset mode, errors, start-up cost."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ftcore.cli import main
from ftcore.inference import infer, inference

GREEDY = ["--greedy", "--max-new-tokens", "6"]


@pytest.fixture
def recorded(loaded, make_recording, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Make infer_main use the session's loaded checkpoint (no reload per test) with a recording template."""
    import ftcore.inference.main as main_module

    model, tokenizer, template, cfg = loaded
    rec = make_recording(template)
    monkeypatch.setattr(main_module, "load_checkpoint", lambda path: (model, tokenizer, rec, cfg))
    return rec


def test_query_mode_prints_one_answer(lora_ckpt: Path, loaded, capsys: pytest.CaptureFixture[str]) -> None:
    """The whole command, checkpoint loading included."""
    model, _, template, _ = loaded
    assert main(["infer", str(lora_ckpt), "--query", "who are you?", *GREEDY]) == 0
    out = capsys.readouterr().out
    assert out == inference(model, template, "who are you?", do_sample=False, max_new_tokens=6) + "\n"


def test_query_mode_without_streaming_prints_the_same(
    recorded: Any, lora_ckpt: Path, loaded, capsys: pytest.CaptureFixture[str]
) -> None:
    model, _, template, _ = loaded
    assert main(["infer", str(lora_ckpt), "-q", "who are you?", "--no-stream", *GREEDY]) == 0
    assert (
        capsys.readouterr().out
        == inference(model, template, "who are you?", do_sample=False, max_new_tokens=6) + "\n"
    )


def test_generation_defaults_come_from_the_run(
    recorded: Any, lora_ckpt: Path, loaded, capsys: pytest.CaptureFixture[str]
) -> None:
    # the fixture run says max_new_tokens = 8, do_sample = false
    model, _, template, _ = loaded
    assert main(["infer", str(lora_ckpt), "--query", "hello"]) == 0
    assert (
        capsys.readouterr().out
        == inference(model, template, "hello", do_sample=False, max_new_tokens=8) + "\n"
    )


def test_infer_keeps_the_loaded_checkpoint(lora_ckpt: Path, loaded, monkeypatch: pytest.MonkeyPatch) -> None:
    import ftcore.inference.main as main_module

    calls = []
    monkeypatch.setattr(main_module, "load_checkpoint", lambda path: calls.append(path) or loaded)
    monkeypatch.setattr(main_module, "_LAST", [])
    a = infer(lora_ckpt, "hi", do_sample=False, max_new_tokens=5)
    b = infer(str(lora_ckpt), "hi", do_sample=False, max_new_tokens=5)
    assert a == b == inference(loaded[0], loaded[2], "hi", do_sample=False, max_new_tokens=5)
    assert len(calls) == 1


def test_chat_keeps_history_clears_and_exits(
    recorded: Any, lora_ckpt: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("first\nsecond\nclear\nthird\nexit\nnever answered\n"))
    assert main(["infer", str(lora_ckpt), "--chat", *GREEDY]) == 0
    out = capsys.readouterr().out
    assert [len(p) for p in recorded.prompts] == [1, 3, 1]
    first, second, third = recorded.prompts
    assert first == [{"role": "user", "content": "first"}]
    assert second[0] == first[0] and second[1]["role"] == "assistant" and second[2]["content"] == "second"
    assert third == [{"role": "user", "content": "third"}]  # history cleared
    assert "(history cleared)" in out
    assert out.count(">>> ") == 3
    assert "never answered" not in str(recorded.prompts)


def test_chat_ends_at_end_of_input(
    recorded: Any, lora_ckpt: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("only\n"))
    assert main(["infer", str(lora_ckpt), "--chat", *GREEDY]) == 0
    assert len(recorded.prompts) == 1


@pytest.mark.slow
def test_chat_over_a_stdin_pipe(lora_ckpt: Path) -> None:
    """The real command with stdin piped: answers stream out, 'exit' ends the session."""
    proc = subprocess.run(
        [sys.executable, "-m", "ftcore", "infer", str(lora_ckpt), "--chat", *GREEDY],
        input="hello\nclear\nhello again\nexit\n",
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "FTCORE_LOAD_PLUGINS": ""},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count(">>> ") == 2
    assert "(history cleared)" in proc.stdout
    assert proc.stdout.count("<<< ") == 4


def test_latest_reference_on_the_command_line(
    recorded: Any, output_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["infer", f"best:{output_root}", "--query", "hi", *GREEDY]) == 0
    captured = capsys.readouterr()
    assert captured.out.endswith("\n")
    assert captured.err.endswith(
        f"checkpoint: {output_root / 'tiny' / 'v0-20261128-101500' / 'checkpoint-2'}\n"
    )


@pytest.mark.parametrize("args", [["no/such/checkpoint", "--query", "x"], ["latest:no/such/dir", "--chat"]])
def test_bad_checkpoint_is_one_line_error(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["infer", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert "no/such" in err


def test_bad_generation_option_is_one_line_error(lora_ckpt: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["infer", str(lora_ckpt), "--query", "x", "--top-p", "3"]) == 2
    err = capsys.readouterr().err
    assert "generation.top_p" in err and err.count("\n") == 1


def test_infer_command_imports_nothing_heavy() -> None:
    code = (
        "import sys, ftcore.commands.infer, ftcore.inference; from ftcore.cli import build_parser; build_parser(); "
        "print(sorted(m for m in ('torch', 'transformers', 'peft', 'datasets') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_help_lists_the_modes(capsys: pytest.CaptureFixture[str]) -> Any:
    with pytest.raises(SystemExit):
        main(["infer", "--help"])
    out = capsys.readouterr().out
    for flag in (
        "--query",
        "--chat",
        "--dataset-sample",
        "--system",
        "--max-new-tokens",
        "--greedy",
        "--do-sample",
        "--temperature",
        "--top-k",
        "--top-p",
        "--repetition-penalty",
        "latest:",
    ):
        assert flag in out


def test_system_flag_reaches_the_prompt(
    recorded: Any, lora_ckpt: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["infer", str(lora_ckpt), "--query", "hi", "--system", "be brief", *GREEDY]) == 0
    assert recorded.prompts == [
        [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    ]


def test_chat_with_a_single_turn_template_answers_each_line_alone(loaded, make_recording) -> None:
    from ftcore.inference import chat_loop
    from ftcore.templates import get_template

    model, tokenizer, _, _ = loaded
    rec = make_recording(get_template("default-generation", tokenizer))
    lines = iter(["one\n", "two\n", ""])
    out = io.StringIO()
    history = chat_loop(
        model, rec, generation={"do_sample": False, "max_new_tokens": 4}, read=lambda: next(lines), out=out
    )
    assert history == []
    assert rec.prompts == [[{"role": "user", "content": "one"}], [{"role": "user", "content": "two"}]]
    assert "single-turn" in out.getvalue()


def test_infer_and_eval_share_the_generation_flags() -> None:
    """One parser for the generation flags: both commands accept them and pass the same keywords on."""
    from ftcore.cli import build_parser
    from ftcore.commands import GENERATION_FLAGS, generation_kwargs

    flags = ["--max-new-tokens", "7", "--greedy", "--temperature", "0.5", "--top-k", "3", "--top-p", "0.8",
             "--repetition-penalty", "1.1", "--seed", "5"]
    parser = build_parser()
    infer = parser.parse_args(["infer", "ckpt", *flags])
    evaluate = parser.parse_args(["eval", "ckpt", *flags])
    expected = {"max_new_tokens": 7, "do_sample": False, "temperature": 0.5, "top_k": 3, "top_p": 0.8,
                "repetition_penalty": 1.1}
    assert generation_kwargs(infer) == generation_kwargs(evaluate) == expected
    assert set(expected) == set(GENERATION_FLAGS) and infer.seed == evaluate.seed == 5
    assert generation_kwargs(parser.parse_args(["eval", "ckpt"])) == dict.fromkeys(GENERATION_FLAGS)
