"""Run by test_liger.py in a subprocess with TRITON_INTERPRET=1 (set before triton loads): Liger's fused linear
cross-entropy on the CPU through triton's interpreter, inside ftcore's loss-only head, against ftcore's own head
(loss, token accuracy, LoRA gradients); and Liger's patches applied to a model (its RMSNorm kernel does not run
in the interpreter: bench/gpu_liger.py runs the patched model on a GPU). Prints one JSON line."""

from __future__ import annotations

import json
import os

assert os.environ.get("TRITON_INTERPRET") == "1"

import torch  # noqa: E402
from peft import LoraConfig, get_peft_model  # noqa: E402
from transformers import AutoConfig, AutoModelForCausalLM  # noqa: E402

from ftcore.testing import TINY_CONFIGS  # noqa: E402
from ftcore.training.liger import apply_liger  # noqa: E402
from ftcore.training.loss import causal_lm_loss, unwrap_model  # noqa: E402


def model() -> torch.nn.Module:
    config = AutoConfig.for_model("qwen2", vocab_size=300, pad_token_id=0, **TINY_CONFIGS["qwen2"])
    torch.manual_seed(0)
    m = AutoModelForCausalLM.from_config(config, attn_implementation="sdpa")
    torch.manual_seed(1)
    return get_peft_model(m, LoraConfig(r=4, target_modules=["q_proj", "v_proj", "gate_proj"],
                                        init_lora_weights=False))


torch.manual_seed(2)
ids = torch.randint(1, 300, (2, 12))
labels = ids.clone()
labels[:, :4] = -100
batch = {"input_ids": ids, "position_ids": torch.arange(12).repeat(2, 1), "labels": labels}
results = {}
for name in ("ftcore", "liger-head"):
    m = model()
    stats: dict = {}
    loss = causal_lm_loss(m, batch, head_impl="ftcore" if name == "ftcore" else "liger", stats=stats)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in m.named_parameters() if p.grad is not None}
    results[name] = (float(loss), int(stats["correct"]), grads)
patched = model()  # last: Liger also patches the architecture's module (classes built later are Liger's)
results["patched"] = apply_liger(unwrap_model(patched))
results["norm"] = getattr(unwrap_model(patched).model.norm.forward, "__qualname__", "")
ref_loss, ref_correct, ref_grads = results.pop("ftcore")
out = {"patched": results.pop("patched"), "norm": results.pop("norm")}
for name, (loss, correct, grads) in results.items():
    out[name] = {"loss_diff": abs(loss - ref_loss), "correct_same": correct == ref_correct,
                 "grad_names_same": sorted(grads) == sorted(ref_grads),
                 "grad_diff": max(float((grads[n] - ref_grads[n]).abs().max()) for n in ref_grads),
                 "loss": loss}
print("RESULT " + json.dumps(out))
