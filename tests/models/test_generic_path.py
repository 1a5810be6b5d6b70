"""Any Hugging Face chat model without a plugin works through ``model.path`` / ``model.repo``: its own chat_template
(``jinja``), LoRA targets from its architecture (peft's mapping, else every Linear but the head), a one-line
note, and a two-step train + save + infer — on tiny models built from config for architectures no plugin covers
here, each with a real-shaped chat template (:func:`ftcore.testing.build_chat_tokenizer_dir`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import ftcore
from ftcore.models import generic_spec
from ftcore.testing import build_chat_tokenizer_dir, build_tiny_model_dir

ROWS = [{"messages": [{"role": "system", "content": "Be brief."},
                      {"role": "user", "content": f"{a} 加 {b} 等于多少? What is {a} plus {b}?"},
                      {"role": "assistant", "content": f"{a} plus {b} is {a + b}."},
                      {"role": "user", "content": "Thanks!"},
                      {"role": "assistant", "content": "不客气。"}]}
        for a, b in ((1, 2), (2, 3), (3, 5), (4, 4))]

ALL_DENSE = ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]
# architecture -> (chat template family, expected default LoRA targets)
CASES = {
    "llama": ("llama3", ["q_proj", "v_proj"]),  # peft's mapping
    "mistral": ("mistral", ["q_proj", "v_proj"]),
    "gemma2": ("gemma", ["q_proj", "v_proj"]),
    "gemma3_text": ("gemma", ["q_proj", "v_proj"]),
    "phi3": ("phi3", ["down_proj", "gate_up_proj", "o_proj", "qkv_proj"]),  # not in peft's mapping: every Linear
    "glm4": ("glm4", ["down_proj", "gate_up_proj", "k_proj", "o_proj", "q_proj", "v_proj"]),
    "deepseek_v3": ("deepseek_v3", ["down_proj", "gate_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj",
                                    "q_a_proj", "q_b_proj", "up_proj"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("arch", sorted(CASES))
def test_generic_chat_model_trains_saves_and_infers(arch, tmp_path, capsys):
    from transformers import AutoModelForCausalLM

    from ftcore.tuners import resolve_targets

    family, targets = CASES[arch]
    tok = build_chat_tokenizer_dir(tmp_path / "tokenizer", family)
    model_dir = build_tiny_model_dir(tmp_path / f"tiny-{arch}", arch, tokenizer_dir=tok)
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ROWS), encoding="utf-8")
    result = ftcore.train({
        "model": {"path": model_dir, "dtype": "fp32"},
        "template": {"max_length": 256},
        "data": {"datasets": [{"path": str(data)}], "test_ratio": 0.0},
        "tuner": {"method": "lora", "rank": 4, "alpha": 8, "dropout": 0.0},
        "train": {"max_steps": 2, "batch_size": 2, "lr": 1e-3, "logging_steps": 1, "save_steps": 2,
                  "report_to": [], "dataloader_num_workers": 0},
        "output": {"dir": str(tmp_path / "out")},
    })
    err = capsys.readouterr().err
    assert "no plugin covers it; template = its own chat_template (jinja)" in err
    checkpoint = Path(result.last_checkpoint)
    adapter = json.loads((checkpoint / "adapter_config.json").read_text())
    wrapped = {n.split(".lora_A")[0].rsplit(".", 1)[-1] for n, _ in result.model.named_modules() if ".lora_A" in n}
    requested = resolve_targets(AutoModelForCausalLM.from_pretrained(model_dir), "auto",
                                generic_spec("m", path=model_dir))
    assert sorted(requested) == targets
    if arch == "deepseek_v3":
        # peft re-targets the MoE layers' MLP projections as expert parameters; the attention ones are plain LoRA
        assert set(targets) - {"down_proj", "gate_proj", "up_proj"} <= wrapped and "experts" in wrapped
        assert set(adapter["target_modules"]) <= set(targets)
    else:
        assert sorted(wrapped) == targets and sorted(adapter["target_modules"]) == targets
    answer = ftcore.infer(str(checkpoint), "What is 2 plus 2?", max_new_tokens=4, do_sample=False)
    assert isinstance(answer, str)


def test_generic_note_only_for_models_without_a_plugin():
    from ftcore.models import generic_note, generic_spec
    from ftcore.registry import get_catalog

    assert "no plugin covers it" in generic_note(generic_spec("my-model", path="/x"))
    assert generic_note(get_catalog().models.get("ftcore-tiny-qwen2")) is None


def test_generic_template_is_the_tokenizers_own(tmp_path):
    from transformers import AutoTokenizer

    from ftcore.models import generic_spec
    from ftcore.templates import IGNORE_INDEX, get_template

    tok = AutoTokenizer.from_pretrained(build_chat_tokenizer_dir(tmp_path / "tok", "gemma"))
    t = get_template(None, tok, model_spec=generic_spec("g", path="/x"))
    assert t.spec.name == "jinja"
    enc = t.encode(ROWS[0]["messages"])
    assert enc["input_ids"] == list(tok.apply_chat_template(ROWS[0]["messages"], tokenize=True)["input_ids"])
    labelled = tok.decode([i for i, label in zip(enc["input_ids"], enc["labels"], strict=True)
                           if label != IGNORE_INDEX])
    assert "不客气。<end_of_turn>" in labelled and "Be brief" not in labelled
