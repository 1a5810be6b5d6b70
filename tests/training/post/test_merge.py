"""ftcore merge: the merged model equals base + adapter; a QLoRA checkpoint is refused with the reason."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import tomllib

from ftcore.errors import FtcoreError


@pytest.mark.slow
def test_merged_model_equals_base_plus_adapter(lora_ckpt: Path, tiny_model_dir: str) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from ftcore.cli import main
    from ftcore.inference import load_checkpoint

    assert main(["merge", str(lora_ckpt)]) == 0
    merged = lora_ckpt.parent / "checkpoint-2-merged"
    names = {p.name for p in merged.iterdir()}
    assert {"config.json", "model.safetensors", "generation_config.json", "ftcore_run.toml",
            "tokenizer_config.json"} <= names
    assert not any(n.endswith(".bin") for n in names) and "adapter_config.json" not in names
    run = tomllib.loads((merged / "ftcore_run.toml").read_text())
    assert run["tuner"]["method"] == "full"
    ids = torch.tensor([[1, 5, 9, 42, 7, 3]])
    with torch.no_grad():
        adapted = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), str(lora_ckpt))
        base_plus_adapter = adapted.eval()(ids).logits
        plain = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()(ids).logits
        model, tokenizer, template, cfg = load_checkpoint(merged)  # inference loads it as full weights
        merged_logits = model(ids).logits
    assert not torch.allclose(plain, base_plus_adapter, atol=1e-4)  # the adapter does change the model
    torch.testing.assert_close(merged_logits, base_plus_adapter, atol=1e-5, rtol=1e-4)
    assert cfg.tuner.method == "full"
    assert (merged / "chat_template.jinja").is_file() or "chat_template" in (merged / "tokenizer_config.json").read_text()
    stamp = (merged / "model.safetensors").stat().st_mtime_ns
    from ftcore.inference.merge import merge_lora_and_save

    assert merge_lora_and_save(lora_ckpt) == merged  # exists: kept (ms-swift skips saving)
    assert (merged / "model.safetensors").stat().st_mtime_ns == stamp


def test_quantized_base_is_refused(lora_ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ftcore.cli import main
    from ftcore.inference.merge import merge_lora

    ckpt = tmp_path / "checkpoint-3"
    shutil.copytree(lora_ckpt, ckpt)
    run = ckpt / "ftcore_run.toml"
    run.write_text(run.read_text().replace('method = "lora"', 'method = "qlora"'))
    with pytest.raises(FtcoreError, match="cannot be merged into quantized weights.*--dequantize"):
        merge_lora(ckpt)
    assert main(["merge", str(ckpt)]) == 2
    assert "quantized" in capsys.readouterr().err
    assert not (tmp_path / "checkpoint-3-merged").exists()
    full = tmp_path / "full"
    (full).mkdir()
    (full / "config.json").write_text("{}")
    with pytest.raises(FtcoreError, match="not a LoRA checkpoint"):
        merge_lora(full)
