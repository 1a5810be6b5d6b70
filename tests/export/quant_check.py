"""The ``export_quant`` nox session: ``ftcore export --to gptq`` (gptqmodel) and ``--to awq`` (llm-compressor) on a
LoRA checkpoint of a tiny Llama, each reloaded with transformers and asked a question. Prints each stage; exits
non-zero on failure. The quantizers need a newer torch than the core's tests pin, hence a session of their own.

    nox -s export_quant                  # or: python tests/export/quant_check.py [gptq] [awq]
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path


def lora_checkpoint(work: Path) -> Path:
    """A LoRA checkpoint (random adapter) of a tiny Llama, in the layout ``ftcore train`` writes."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ftcore.config import config_from_dict, config_to_toml
    from ftcore.testing import build_tiny_model_dir

    base = build_tiny_model_dir(work / "tiny", arch="llama", hidden_size=128, intermediate_size=256)
    rows = work / "rows.jsonl"
    rows.write_text("".join(json.dumps({"query": f"what is {i} plus {i}?", "response": f"{2 * i}"}) + "\n"
                            for i in range(32)), encoding="utf-8")
    ckpt = work / "run" / "checkpoint-1"
    ckpt.mkdir(parents=True, exist_ok=True)
    cfg = config_from_dict({
        "model": {"path": base}, "template": {"name": "chatml", "max_length": 64},
        "data": {"datasets": [{"path": str(rows)}], "validation": [{"path": str(rows)}], "test_ratio": 0.0},
        "tuner": {"method": "lora", "rank": 4, "alpha": 8, "targets": ["q_proj", "v_proj"]},
    })
    (ckpt / "ftcore_run.toml").write_text(config_to_toml(cfg), encoding="utf-8")
    torch.manual_seed(0)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base), LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False, task_type="CAUSAL_LM"))
    model.save_pretrained(ckpt, safe_serialization=True)
    AutoTokenizer.from_pretrained(base).save_pretrained(ckpt)
    return ckpt


def main(work: Path, formats: list[str]) -> int:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ftcore.export import export_checkpoint

    print(f"torch {torch.__version__}, cuda: {torch.cuda.is_available()}")
    ckpt = lora_checkpoint(work)
    for to in formats:
        out = export_checkpoint(ckpt, to, work / f"export-{to}", calib_samples=16)
        config = json.loads((out / "config.json").read_text(encoding="utf-8"))
        print(f"{to}: {out} quantization_config={config.get('quantization_config', {}).get('quant_method')}")
        device = "cuda:0" if torch.cuda.is_available() else "cpu"
        model = AutoModelForCausalLM.from_pretrained(out, device_map={"": device})
        tok = AutoTokenizer.from_pretrained(out)
        prompt = tok.apply_chat_template([{"role": "user", "content": "what is 3 plus 3?"}],
                                         add_generation_prompt=True, return_tensors="pt", return_dict=True)
        ids = prompt["input_ids"].to(device)
        answer = model.generate(ids, max_new_tokens=8, do_sample=False)
        assert answer.shape[1] > ids.shape[1], "no token generated"
        print(f"{to}: answer {tok.decode(answer[0, ids.shape[1]:])!r}")
        assert (out / "README.md").is_file()
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    formats = [a for a in args if a in ("gptq", "awq")] or ["gptq", "awq"]
    rest = [a for a in args if a not in ("gptq", "awq")]
    folder = Path(rest[0]) if rest else Path(tempfile.mkdtemp(prefix="ftcore-export-quant-"))
    folder.mkdir(parents=True, exist_ok=True)
    raise SystemExit(main(folder, formats))
