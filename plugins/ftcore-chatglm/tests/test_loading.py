"""ftcore-chatglm's loading on the offline stand-ins: ChatGLM2 / ChatGLM3 remote code with ms-swift's fixes (head
out of 8/4-bit quantization, the loss's device fix); GLM-4 through the core's generic loader."""

from __future__ import annotations

import pytest
from ftcore_chatglm.loading import ChatGLMLoader, load_chatglm, patch_cross_entropy_device

import ftcore
from ftcore import ModelOptions, ModelSpec
from ftcore.plugins import get_plugin_manager
from ftcore.registry import get_catalog


def load(name_or_spec, model_dir, **options):
    spec = get_catalog().models.get(name_or_spec) if isinstance(name_or_spec, str) else name_or_spec
    opts = ModelOptions(model_dir=model_dir, **{"dtype": "fp32", "trust_remote_code": True, **options})
    return get_plugin_manager().hook.load_model(spec=spec, options=opts)


def test_chatglm2_remote_code(chatglm_dir):
    model, tok = load("chatglm2-6b", chatglm_dir)
    assert type(model).__name__ == "ChatGLMForConditionalGeneration"
    assert type(model).__module__.endswith("modeling_chatglm")
    assert hasattr(model.transformer.encoder.layers[0].self_attention, "query_key_value")
    assert tok.eos_token == "</s>" and tok.pad_token_id == tok.eos_token_id
    assert tok.get_command("[gMASK]") == 64790 and tok.get_command("sop") == 64792


def test_head_is_kept_out_of_8_and_4_bit_quantization(chatglm_dir):
    spec = get_catalog().models.get("chatglm2-6b")
    for bits in (4, 8):
        opts = ModelOptions(model_dir=chatglm_dir, dtype="bf16", trust_remote_code=True, quantization={"bits": bits})
        q = ChatGLMLoader(spec, opts).quantization_kwargs()["quantization_config"]
        assert q.llm_int8_skip_modules == ["output_layer"]
        assert (q.load_in_4bit, q.load_in_8bit) == (bits == 4, bits == 8)
    plain = ChatGLMLoader(spec, ModelOptions(model_dir=chatglm_dir, trust_remote_code=True))
    assert plain.quantization_kwargs() == {}


def test_cross_entropy_moves_the_target_to_the_logits_device(chatglm_dir):
    import torch

    load("chatglm3-6b", chatglm_dir)
    forward = torch.nn.CrossEntropyLoss.forward
    assert forward._ftcore_device_fix
    patch_cross_entropy_device()  # once per process: a second load does not wrap it again
    assert torch.nn.CrossEntropyLoss.forward is forward

    logits, labels = torch.randn(3, 5), torch.tensor([1, 2, -100])
    moved = []

    class Elsewhere:  # a target on another device: only .to(logits.device) makes it usable
        def to(self, device):
            moved.append(device)
            return labels

    loss = torch.nn.CrossEntropyLoss(ignore_index=-100)(logits, Elsewhere())
    assert moved == [logits.device]
    assert torch.allclose(loss, torch.nn.functional.cross_entropy(logits, labels, ignore_index=-100))


def test_the_remote_loss_trains(chatglm_dir):
    import torch

    model, _ = load("chatglm2-6b", chatglm_dir)
    ids = torch.tensor([[64790, 64792, 100, 200, 300]])
    out = model(input_ids=ids, labels=ids)
    assert out.loss.ndim == 0 and torch.isfinite(out.loss)
    out.loss.backward()
    assert model.transformer.encoder.layers[0].self_attention.query_key_value.weight.grad is not None


def test_refuses_without_trust_remote_code(chatglm_dir):
    with pytest.raises(ftcore.FtcoreError, match=r"model 'chatglm2-6b' .*\(ChatGLM\) from .*; set model.trust_remote_code"):
        load("chatglm2-6b", chatglm_dir, trust_remote_code=False)


def test_adhoc_chatglm_folder_is_handled(chatglm_dir):
    model, _ = load(ModelSpec(name="my-chatglm", path=chatglm_dir), chatglm_dir)
    assert type(model).__name__ == "ChatGLMForConditionalGeneration"


def test_glm4_falls_through_to_the_core_loader(glm_dir, glm4_dir):
    for name, folder, cls in (("glm-4-9b-chat", glm_dir, "GlmForCausalLM"),
                              ("glm-4-9b-0414", glm4_dir, "Glm4ForCausalLM")):
        spec = get_catalog().models.get(name)
        assert load_chatglm(spec, ModelOptions(model_dir=folder)) is None
        model, tok = load(name, folder, trust_remote_code=False)
        assert type(model).__name__ == cls and tok.eos_token == "<|endoftext|>"
        assert hasattr(model.model.layers[0].self_attn, "q_proj")


def test_other_models_fall_through(tmp_path):
    assert load_chatglm(ModelSpec(name="qwen2.5-7b-instruct", hub={"huggingface": "Qwen/x"}),
                        ModelOptions(model_dir=str(tmp_path))) is None
