"""fast_lora (ftcore.training.lora_cpu): peft LoRA's values and gradients, with the update added in place."""

from __future__ import annotations

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoConfig, AutoModelForCausalLM

from ftcore.testing import TINY_CONFIGS
from ftcore.training.lora_cpu import fast_lora


def _model(**lora):
    config = AutoConfig.for_model("qwen2", vocab_size=512, **TINY_CONFIGS["qwen2"])
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules="all-linear",
                                             **lora))
    for name, p in model.named_parameters():  # non-zero B, so the update and every gradient are not trivial
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.05)
    return model


def _step(model, ids):
    model.zero_grad()
    out = model(input_ids=ids, use_cache=False).logits
    out.float().square().mean().backward()
    return out.detach().float(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_values_and_gradients_equal_peft(monkeypatch):
    from peft.tuners.lora.layer import Linear as LoraLinear

    import ftcore.training.lora_cpu as lora_cpu

    calls = []
    real = lora_cpu._AddLowRank.apply
    monkeypatch.setattr(lora_cpu._AddLowRank, "apply", lambda *a: calls.append(1) or real(*a))
    model = _model()
    model.train()
    ids = torch.randint(0, 512, (2, 24))
    ref, ref_grads = _step(model, ids)
    with fast_lora(model) as n:
        assert n == 7 * TINY_CONFIGS["qwen2"]["num_hidden_layers"]
        out, grads = _step(model, ids)
    assert len(calls) == n  # every layer took the in-place path
    assert all(type(m) is LoraLinear for m in model.modules() if hasattr(m, "lora_A"))  # restored
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    assert grads.keys() == ref_grads.keys() and any("lora_B" in k for k in grads)
    for name in grads:
        torch.testing.assert_close(grads[name], ref_grads[name], rtol=1e-4, atol=1e-6, msg=name)


def test_bf16_autocast_close_to_peft():
    model = _model()
    model.train()
    ids = torch.randint(0, 512, (2, 24))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ref, ref_grads = _step(model, ids)
        with fast_lora(model):
            out, grads = _step(model, ids)
    torch.testing.assert_close(out, ref, rtol=0.05, atol=0.05)
    for name in grads:
        assert grads[name].dtype == torch.float32
        torch.testing.assert_close(grads[name], ref_grads[name], rtol=0.1, atol=1e-3, msg=name)


@pytest.mark.parametrize("case", ["dora", "disabled", "no_grad", "zero3"])
def test_peft_path_where_it_does_not_apply(case, monkeypatch):
    import ftcore.training.lora_cpu as lora_cpu

    model = _model(use_dora=True) if case == "dora" else _model()
    calls = []
    real = lora_cpu._AddLowRank.apply
    monkeypatch.setattr(lora_cpu._AddLowRank, "apply", lambda *a: calls.append(1) or real(*a))
    ids = torch.randint(0, 512, (1, 8))
    if case == "zero3":  # a ZeRO-3 partition is only whole inside the module's own call
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.ds_id = 0
    with fast_lora(model):
        if case == "disabled":
            with model.disable_adapter():
                model(input_ids=ids)
        elif case == "no_grad":
            with torch.no_grad():
                model(input_ids=ids)
        else:
            model(input_ids=ids)
    assert calls == []
    with fast_lora(model, enabled=False) as n:
        assert n == 0
