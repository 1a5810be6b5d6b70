"""``ftcore export``: GGUF (f16 / q8_0) reloads in transformers with the merged model's logits and ftcore's chat
template; the Ollama TEMPLATE renders ftcore's prompt; safetensors (sharded) and bnb reload and answer; the model
card; refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ftcore.cli import main
from ftcore.errors import FtcoreError
from ftcore.export.chat import PROBE, render_go_template

TWO_TURNS = PROBE[:3]  # user, assistant, user: the prompt for the second answer


def _logits(model: Any, ids: list[int]) -> Any:
    import torch

    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0]


def _quantized_reference(model: Any, quant: str) -> Any:
    """The merged model with every matrix rounded through ``quant`` as gguf quantizes it (norms stay f32)."""
    import copy

    import gguf
    import torch

    qtype = gguf.GGMLQuantizationType[quant.upper()]
    ref = copy.deepcopy(model)
    with torch.no_grad():
        for p in ref.parameters():
            if p.ndim == 2:
                w = p.numpy()
                p.copy_(torch.from_numpy(gguf.quants.dequantize(gguf.quants.quantize(w, qtype), qtype).reshape(w.shape)))
    return ref


@pytest.mark.parametrize("quant", ["f16", "q8_0"])
def test_gguf_reloads_with_the_merged_logits_and_the_chat_template(lora_ckpt: Path, merged: Any, tmp_path: Path,
                                                                   quant: str) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _, model, template = merged
    out = tmp_path / "gguf"
    assert main(["export", str(lora_ckpt), "--to", "gguf", "--quant", quant, "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["README.md", f"model-{quant}.gguf"]
    assert not list(tmp_path.glob(".tmp-*"))  # staged, then renamed
    loaded = AutoModelForCausalLM.from_pretrained(out, gguf_file=f"model-{quant}.gguf", dtype=torch.float32).eval()
    ids = template.encode_prompt(TWO_TURNS)
    got, want = _logits(loaded, ids), _logits(model, ids)
    if quant == "f16":
        assert torch.allclose(got, want, atol=0.05), (got - want).abs().max()
    else:  # exactly the merged model through q8_0 rounding; within a tenth of the logit range of the float model
        assert torch.allclose(got, _logits(_quantized_reference(model, "q8_0"), ids), atol=1e-3)
        assert (got - want).abs().max() < 0.1 * want.abs().max()
    tok = AutoTokenizer.from_pretrained(out, gguf_file=f"model-{quant}.gguf")
    assert tok.apply_chat_template(TWO_TURNS, tokenize=False, add_generation_prompt=True) == template.render(
        TWO_TURNS, generation=True)
    assert tok.apply_chat_template(PROBE, tokenize=False) == template.render(PROBE)
    import gguf

    reader = gguf.GGUFReader(out / f"model-{quant}.gguf")
    eot = reader.fields["tokenizer.ggml.eot_token_id"]
    assert int(eot.parts[eot.data[0]][0]) == template.tokenizer.convert_tokens_to_ids("<|im_end|>")


def test_ollama_modelfile_template_renders_ftcore_prompt(lora_ckpt: Path, merged: Any, tmp_path: Path) -> None:
    from ftcore.export.ollama import read_modelfile

    _, _, template = merged
    out = tmp_path / "ollama"
    assert main(["export", str(lora_ckpt), "--to", "ollama", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["Modelfile", "README.md", "model-q8_0.gguf"]
    mf = read_modelfile((out / "Modelfile").read_text(encoding="utf-8"))
    assert mf["FROM"] == "./model-q8_0.gguf"
    assert mf["SYSTEM"] == "you are a helpful assistant!"
    assert mf["stop"] == ["<|im_end|>"]
    want = template.render(TWO_TURNS, generation=True)
    assert render_go_template(mf["TEMPLATE"], TWO_TURNS, mf["SYSTEM"]) == want
    own = [{"role": "system", "content": "Be brief."}, *TWO_TURNS]  # a chat's own system message wins
    assert render_go_template(mf["TEMPLATE"], own, mf["SYSTEM"]) == template.render(own, generation=True)


def test_safetensors_sharded_with_tokenizer_template_and_card(lora_ckpt: Path, merged: Any, tmp_path: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    from ftcore.inference import inference, load_checkpoint

    _, model, template = merged
    out = tmp_path / "st"
    assert main(["export", str(lora_ckpt), "--to", "safetensors", "--max-shard-size", "100KB", "--out", str(out)]) == 0
    assert len(list(out.glob("model-*.safetensors"))) > 1 and (out / "model.safetensors.index.json").is_file()
    ids = template.encode_prompt(TWO_TURNS)
    reloaded = AutoModelForCausalLM.from_pretrained(out).eval()
    assert torch.allclose(_logits(reloaded, ids), _logits(model, ids), atol=1e-5)
    tok = AutoTokenizer.from_pretrained(out)
    assert tok.apply_chat_template(TWO_TURNS, tokenize=False, add_generation_prompt=True) == template.render(
        TWO_TURNS, generation=True)
    assert GenerationConfig.from_pretrained(out).eos_token_id == template.tokenizer.convert_tokens_to_ids("<|im_end|>")
    # ftcore serves the export like any full checkpoint
    m, _, t, _ = load_checkpoint(out)
    assert isinstance(inference(m, t, "question 1?", max_new_tokens=4, do_sample=False), str)
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "license: apache-2.0" in card and "base_model: tiny-qwen2" in card
    assert "| eval_loss | 1.25 |" in card and "qa.jsonl" in card and "lora (rank 4, alpha 8)" in card
    assert f"ftcore export {lora_ckpt} --to safetensors" in card


def test_bnb_4bit_reloads_and_answers(lora_ckpt: Path, merged: Any, tmp_path: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    _, _, template = merged
    out = tmp_path / "bnb"
    assert main(["export", str(lora_ckpt), "--to", "bnb", "--quant", "nf4", "--out", str(out)]) == 0
    reloaded = AutoModelForCausalLM.from_pretrained(out, device_map={"": "cpu"})
    assert reloaded.config.quantization_config.load_in_4bit
    ids = torch.tensor([template.encode_prompt(TWO_TURNS)])
    answer = reloaded.generate(ids, max_new_tokens=4, do_sample=False)
    assert answer.shape[1] > ids.shape[1]


@pytest.mark.parametrize(("args", "message"), [
    (["--to", "gguf", "--quant", "q4_k_m"], "k-quants need llama.cpp's llama-quantize"),
    (["--to", "gguf", "--quant", "q3"], "not a GGUF quantization"),
    (["--to", "safetensors", "--quant", "q8_0"], "unquantized"),
    (["--to", "bnb", "--quant", "int3"], "supports nf4, fp4, int8"),
])
def test_unsupported_quantization_is_one_line(lora_ckpt: Path, args: list[str], message: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", str(lora_ckpt), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_unsupported_architecture_is_refused_before_converting(tiny_base: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    from ftcore.config import config_from_dict, config_to_toml
    from ftcore.testing import build_tiny_model_dir

    ckpt = Path(build_tiny_model_dir(tmp_path / "gpt2", arch="gpt2", tokenizer_dir=str(tiny_base)))
    (ckpt / "ftcore_run.toml").write_text(config_to_toml(config_from_dict({
        "model": {"path": str(ckpt)}, "template": {"name": "chatml"}, "tuner": {"method": "full"}})))
    capsys.readouterr()
    assert main(["export", str(ckpt), "--to", "ollama"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "architecture GPT2LMHeadModel is not supported" in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gpt2"]  # nothing written, no temporary folder left


def test_unsupported_architecture_and_missing_quantizers_are_refused(tmp_path: Path) -> None:
    from ftcore.export.quantized import require
    from ftcore.export.to_gguf import check_architecture

    with pytest.raises(FtcoreError, match="architecture GPT2LMHeadModel is not supported"):
        check_architecture({"architectures": ["GPT2LMHeadModel"]})
    with pytest.raises(FtcoreError, match="rope scaling 'llama3'"):
        check_architecture({"architectures": ["LlamaForCausalLM"], "rope_parameters": {"rope_type": "llama3"}})
    import importlib.util

    for to, extra in (("gptq", "ftcore[gptq]"), ("awq", "ftcore[awq]")):
        if importlib.util.find_spec({"gptq": "gptqmodel", "awq": "llmcompressor"}[to]) is None:
            with pytest.raises(FtcoreError, match=rf"pip install '{extra.replace('[', '.').replace(']', '.')}'"):
                require(to)


def test_gptq_calibration_rows_come_from_the_run(lora_ckpt: Path, tmp_path: Path) -> None:
    """The glue the gptq / awq writers share (the quantizers themselves run in ``nox -s export_quant``)."""
    from ftcore.export.main import prepare_source
    from ftcore.export.quantized import calibration_rows
    from ftcore.inference.checkpoint import checkpoint_config

    source = prepare_source(lora_ckpt, checkpoint_config(lora_ckpt), tmp_path / "work")
    rows = calibration_rows(source, None, 3)
    encoded = [source.template.encode([{"role": "user", "content": f"question {i}?"},
                                       {"role": "assistant", "content": f"answer {i}"}])["input_ids"] for i in range(8)]
    assert len(rows) == 3 and all(r in encoded for r in rows)


def test_full_llama_checkpoint_exports_as_it_is(tiny_base: Path, tmp_path: Path) -> None:
    """A full-weights checkpoint is converted without merging; Llama's q / k rows take llama.cpp's rope layout
    (transformers' GGUF loader turns them back, so the logits match)."""
    import torch
    from transformers import AutoModelForCausalLM

    from ftcore.config import config_from_dict, config_to_toml
    from ftcore.export import export_checkpoint
    from ftcore.testing import build_tiny_model_dir

    ckpt = Path(build_tiny_model_dir(tmp_path / "checkpoint-9", arch="llama", tokenizer_dir=str(tiny_base)))
    (ckpt / "ftcore_run.toml").write_text(config_to_toml(config_from_dict({
        "model": {"path": str(ckpt)}, "template": {"name": "chatml"}, "tuner": {"method": "full"}})))
    out = export_checkpoint(ckpt, "gguf")
    assert out == tmp_path / "checkpoint-9-gguf-f16"
    loaded = AutoModelForCausalLM.from_pretrained(out, gguf_file="model-f16.gguf", dtype=torch.float32).eval()
    ids = list(range(1, 12))
    assert torch.allclose(_logits(loaded, ids), _logits(AutoModelForCausalLM.from_pretrained(ckpt).eval(), ids),
                          atol=0.01)
    with pytest.raises(FtcoreError, match="exists; pass --overwrite"):
        export_checkpoint(ckpt, "gguf")
