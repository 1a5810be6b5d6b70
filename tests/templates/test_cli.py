"""``ftcore template show|encode|check``: output and exit codes (in-process, tokenizer folders built once)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ftcore.cli import main
from ftcore.registry import get_catalog
from ftcore.specs import TemplateSpec
from ftcore.templates import get_template

QWEN25_TEMPLATE = (Path(__file__).parent / "qwen25_instruct.jinja").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """(a tokenizer folder with Qwen2.5-Instruct's chat_template, the shipped folder with its Qwen3-style one)."""
    from ftcore.testing import qwen25_tokenizer_dir

    shipped = qwen25_tokenizer_dir()
    q25 = tmp_path_factory.mktemp("qwen25-instruct")
    for name in ("tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json"):
        shutil.copy(Path(shipped) / name, q25 / name)
    cfg = json.loads((q25 / "tokenizer_config.json").read_text(encoding="utf-8"))
    cfg["chat_template"] = QWEN25_TEMPLATE
    (q25 / "tokenizer_config.json").write_text(json.dumps(cfg, ensure_ascii=False), encoding="utf-8")
    return str(q25), shipped


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    path = tmp_path_factory.mktemp("samples") / "samples.jsonl"
    rows = [
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello there!"}]},
        {"query": "你好", "response": "你好！", "history": [["1+1?", "2"]]},
        {"messages": [{"role": "user", "content": "no answer"}]},
    ]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return str(path)


def test_show_prints_the_parts(capsys):
    assert main(["template", "show", "llama"]) == 0
    out = capsys.readouterr().out
    assert '"[INST] <<SYS>>\\n{{SYSTEM}}\\n<</SYS>>\\n\\n"' in out
    assert '["eos_token_id", "bos_token_id"]' in out
    assert main(["template", "show", "default-generation"]) == 0
    assert "None (single turn only)" in capsys.readouterr().out
    assert main(["template", "show", "chatml", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["suffix"] == ["<|im_end|>\n"]


def test_show_unknown_template_is_a_one_line_error(capsys):
    assert main(["template", "show", "chatmll"]) == 2
    assert "did you mean chatml" in capsys.readouterr().err


def test_encode_marks_loss_spans_when_piped(folders, samples, capsys):
    assert main(["template", "encode", "--model", folders[0], "--template", "chatml", samples]) == 0
    out = capsys.readouterr().out
    assert "[[Hello there!<|im_end|>]]\n" in out
    assert "[[你好！<|im_end|>]]" in out
    assert "[[2<|im_end|>]]" not in out  # history answers carry no loss with loss_on = last
    assert "sample 3: skipped" in out
    assert "2 encoded, 1 skipped" in out
    assert main(["template", "encode", "--model", folders[0], "--template", "chatml", "--loss-on", "all", samples]) == 0
    assert "[[2<|im_end|>]]" in capsys.readouterr().out


def test_encode_json_gives_ids_and_labels(folders, samples, capsys):
    assert main(["template", "encode", "--model", folders[0], "--template", "chatml", "--json", samples]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["row"] for x in lines] == [1, 2, 3]
    from ftcore.commands.template import load_tokenizer

    tok, _ = load_tokenizer(folders[0])
    expected = get_template("chatml", tok).encode(
        [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello there!"}]
    )
    assert lines[0]["input_ids"] == expected["input_ids"] and lines[0]["labels"] == expected["labels"]
    assert lines[2]["skipped"]


def test_encode_colours_on_a_terminal(folders, samples, capsys):
    assert main(["template", "encode", "--model", folders[0], "--template", "chatml", "--color", "always", samples]) == 0
    out = capsys.readouterr().out
    assert "\x1b[" in out and "[[" not in out


def test_check_passes_on_a_matching_template(folders, capsys):
    assert main(["template", "check", "--model", folders[0], "--template", "chatml"]) == 0
    out = capsys.readouterr().out
    assert "14 of 14 match" in out and "known difference, default-system" in out
    assert main(["template", "check", "--model", folders[0]]) == 0  # no template named: jinja
    assert main(["template", "check", "--model", folders[1], "--template", "jinja"]) == 0


def test_check_fails_on_a_mismatched_template(folders, capsys):
    catalog = get_catalog()
    broken = TemplateSpec(
        name="chatml-no-newline",  # deliberately wrong: no '\n' after <|im_end|> between turns
        prefix=["<|im_start|>system\n{{SYSTEM}}<|im_end|>"],
        prompt=["<|im_start|>user\n{{QUERY}}<|im_end|><|im_start|>assistant\n"],
        chat_sep=["<|im_end|>"],
        suffix=["<|im_end|>"],
        known_differences=["default-system: test"],
    )
    catalog.templates.specs[broken.name] = broken
    try:
        assert main(["template", "check", "--model", folders[0], "--template", "chatml-no-newline"]) == 1
        out = capsys.readouterr().out
        assert "DIFF" in out and "first difference at token" in out
    finally:
        del catalog.templates.specs[broken.name]
    assert main(["template", "check", "--model", folders[0], "--template", "default"]) == 1
    # chatml is Qwen2.5's format; the shipped tokenizer's Qwen3-style template adds an empty <think> block
    assert main(["template", "check", "--model", folders[1], "--template", "chatml", "--json"]) == 1
    report = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert report["ok"] is False
    assert all(i["ok"] for i in report["items"] if i["form"] == "prompt" and "system" in i["name"])


def test_check_without_a_chat_template_is_an_error(folders, tmp_path, capsys):
    for name in ("tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json"):
        shutil.copy(Path(folders[1]) / name, tmp_path / name)
    cfg = json.loads((tmp_path / "tokenizer_config.json").read_text(encoding="utf-8"))
    cfg.pop("chat_template", None)
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(cfg), encoding="utf-8")
    assert main(["template", "check", "--model", str(tmp_path), "--template", "chatml"]) == 2
    assert "no chat_template" in capsys.readouterr().err


def test_command_module_imports_nothing_heavy():
    code = (
        "import sys, ftcore.commands.template as m; "
        "bad = [n for n in ('torch', 'transformers', 'datasets', 'peft') if n in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).returncode == 0


def test_check_a_registered_model_uses_its_template(folders, capsys):
    from ftcore.specs import ModelSpec

    catalog = get_catalog()
    catalog.add("model", ModelSpec(name="test-tokenizer-only-qwen25", path=folders[0], template="chatml"), "tests 0")
    try:
        assert main(["template", "check", "--model", "test-tokenizer-only-qwen25"]) == 0
        assert "template 'chatml'" in capsys.readouterr().out
    finally:
        del catalog.models.specs["test-tokenizer-only-qwen25"]
