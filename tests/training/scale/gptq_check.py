"""The ``gptq`` nox session: quantize a tiny model with GPTQ (transformers' integration: optimum + gptqmodel),
LoRA-train on it with ftcore, save, load the checkpoint and answer. Prints each stage; exits non-zero on failure.

    nox -s gptq                 # or: python tests/training/scale/gptq_check.py [work dir]
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path


def main(work: Path) -> int:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GPTQConfig

    from ftcore.inference import inference, load_checkpoint
    from ftcore.testing import build_tiny_model_dir
    from ftcore.training import train

    print(f"torch {torch.__version__}, cuda: {torch.cuda.is_available()}")
    base = build_tiny_model_dir(work / "tiny", arch="llama", hidden_size=128, intermediate_size=256)
    tokenizer = AutoTokenizer.from_pretrained(base)
    calibration = [f"question {i}: what is {i} plus {i}? answer: {2 * i}" for i in range(32)]
    config = GPTQConfig(bits=4, group_size=32, dataset=calibration, tokenizer=tokenizer)
    device_map = "auto" if torch.cuda.is_available() else "cpu"
    model = AutoModelForCausalLM.from_pretrained(base, quantization_config=config, device_map=device_map,
                                                 dtype=torch.float16 if torch.cuda.is_available() else torch.float32)
    quantized = work / "tiny-gptq-int4"
    model.save_pretrained(quantized)
    tokenizer.save_pretrained(quantized)
    print(f"quantized: {quantized} ({json.loads((quantized / 'config.json').read_text())['quantization_config']['quant_method']})")

    rows = work / "rows.jsonl"
    rows.write_text("".join(json.dumps({"query": f"question {i}", "response": f"answer {i}"}) + "\n"
                            for i in range(32)), encoding="utf-8")
    result = train({
        "model": {"path": str(quantized)},
        "template": {"name": "chatml", "max_length": 48},
        "data": {"datasets": [{"path": str(rows)}], "test_ratio": 0.0, "sample": -1},
        "tuner": {"method": "lora", "rank": 4, "alpha": 8, "targets": ["q_proj", "v_proj"]},
        "train": {"max_steps": 4, "batch_size": 2, "grad_accum": 1, "logging_steps": 1, "report_to": [],
                  "dataloader_num_workers": 0, "lr": 1e-3},
        "output": {"dir": str(work / "out")},
    })
    print(f"trained: {result.last_checkpoint} losses {result.metrics.get('first_loss')} -> "
          f"{result.metrics.get('last_loss')}")
    model, _tok, template, _cfg = load_checkpoint(result.last_checkpoint)
    answer = inference(model, template, "question 3", max_new_tokens=8, do_sample=False)
    print(f"answer: {answer!r}")
    return 0


if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="ftcore-gptq-"))
    folder.mkdir(parents=True, exist_ok=True)
    raise SystemExit(main(folder))
