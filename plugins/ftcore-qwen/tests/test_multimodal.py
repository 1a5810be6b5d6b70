"""Multimodal SFT pieces for Qwen2-VL: the ``qwen2-vl`` template with images (image tokens expanded per vision
patch, never labelled; pixel inputs alongside) and a LoRA train step on a tiny Qwen2-VL with generated images."""

from __future__ import annotations

import pytest

from ftcore.templates import IGNORE_INDEX, get_template
from ftcore.testing import build_tiny_dir


@pytest.fixture(scope="module")
def vl_dir(tmp_path_factory) -> str:
    return build_tiny_dir(tmp_path_factory.mktemp("qwen2-vl") / "Qwen2-VL-2B-Instruct", "qwen2_vl")


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> list[str]:
    import numpy as np
    from PIL import Image

    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    paths = []
    for i, (h, w) in enumerate([(56, 56), (60, 90)]):
        path = folder / f"img{i}.png"
        Image.fromarray((rng.random((h, w, 3)) * 255).astype("uint8")).save(path)
        paths.append(str(path))
    return paths


@pytest.fixture(scope="module")
def tokenizer(vl_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(vl_dir)


CONVERSATION = [{"role": "user", "content": "<image>What colour is it?"},
                {"role": "assistant", "content": "Mostly noise."}]


def test_images_become_vision_tokens_that_carry_no_loss(tokenizer, images):
    t = get_template("qwen2-vl", tokenizer)
    enc = t.encode(CONVERSATION, [images[1]])
    pad = tokenizer.convert_tokens_to_ids("<|image_pad|>")
    grid = enc["image_grid_thw"][0]
    n = grid[0] * grid[1] * grid[2] // 4  # merge_size 2 → 4 patches per token
    assert enc["input_ids"].count(pad) == n > 1
    assert len(enc["pixel_values"]) == grid[0] * grid[1] * grid[2]
    vision = {pad, tokenizer.convert_tokens_to_ids("<|vision_start|>"), tokenizer.convert_tokens_to_ids("<|vision_end|>")}
    assert all(label == IGNORE_INDEX for tok, label in zip(enc["input_ids"], enc["labels"], strict=True) if tok in vision)
    learned = tokenizer.decode([i for i, label in zip(enc["input_ids"], enc["labels"], strict=True) if label != IGNORE_INDEX])
    assert learned == "Mostly noise.<|im_end|>"
    text = tokenizer.decode(enc["input_ids"])
    assert "<|im_start|>user\n<|vision_start|><|image_pad|>" in text and "<|vision_end|>What colour" in text


def test_without_placeholder_images_go_first_and_text_only_still_works(tokenizer, images):
    t = get_template("qwen2-vl", tokenizer)
    plain = [{"role": "user", "content": "Describe."}, {"role": "assistant", "content": "Noise."}]
    enc = t.encode(plain, images)
    assert len(enc["image_grid_thw"]) == 2
    assert tokenizer.decode(enc["input_ids"]).count("<|vision_start|>") == 2
    text_only = t.encode(plain)
    assert set(text_only) == {"input_ids", "labels"}


def test_encode_batch_with_images_encodes_each_sample_and_keeps_skips_in_place(tokenizer, images):
    t = get_template("qwen2-vl", tokenizer)
    two = [{"role": "user", "content": "<image><image>?"}, {"role": "assistant", "content": "x"}]
    out = t.encode_batch([CONVERSATION, two, CONVERSATION], [[images[0]], [images[0]], []])
    assert out[0] == t.encode(CONVERSATION, [images[0]])
    assert getattr(out[1], "reason", None) == "image count mismatch"
    assert out[2] == t.encode(CONVERSATION)


def test_qwen_vl_img_tags_mark_the_image_place(tokenizer, images):
    """ms-swift's coco-en rows carry ``<img>PATH</img>`` in the text and the path in ``images``: the tag becomes
    the image block (no path text left)."""
    t = get_template("qwen2-vl", tokenizer)
    coco = [{"role": "user", "content": f"<img>{images[0]}</img>please describe the image"},
            {"role": "assistant", "content": "noise"}]
    text = tokenizer.decode(t.encode(coco, [images[0]])["input_ids"])
    assert "<|vision_end|>please describe the image" in text and "<img>" not in text and images[0] not in text
    assert text.count("<|vision_start|>") == 1


def test_mismatched_placeholders_and_too_long_samples_are_skipped(tokenizer, images):
    from ftcore.templates import SkipSample

    t = get_template("qwen2-vl", tokenizer)
    two = [{"role": "user", "content": "<image><image>?"}, {"role": "assistant", "content": "x"}]
    with pytest.raises(SkipSample) as err:
        t.encode(two, images[:1])
    assert err.value.reason == "image count mismatch"
    with pytest.raises(SkipSample) as err:
        get_template("qwen2-vl", tokenizer, max_length=8).encode(CONVERSATION, images[:1])
    assert err.value.reason == "too long"


def test_lora_train_step_with_images_on_tiny_qwen2_vl(vl_dir, tokenizer, images):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText

    from ftcore.data import DataCollator
    from ftcore.registry import get_catalog

    torch.manual_seed(0)
    model = AutoModelForImageTextToText.from_pretrained(vl_dir, dtype=torch.float32)
    targets = get_catalog().models.get("qwen2-vl-2b-instruct").lora_targets
    model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=targets))
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and not [n for n in trainable if ".visual." in n]  # the vision tower stays frozen
    t = get_template("qwen2-vl", tokenizer)
    features = [t.encode(CONVERSATION, [images[0]]), t.encode(CONVERSATION, [images[1]])]
    batch = DataCollator(pad_token_id=tokenizer.pad_token_id, template=t,
                         image_token_ids=(tokenizer.convert_tokens_to_ids("<|image_pad|>"),))(features)
    assert batch["image_grid_thw"].shape == (2, 3)
    assert batch["pixel_values"].shape[0] == int(batch["image_grid_thw"].prod(-1).sum())
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(2):
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert all(torch.isfinite(torch.tensor(losses))) and losses[1] < losses[0]
    # generation with an image: the prompt's pixel inputs go to generate()
    prompt = t.encode_prompt_with_images(CONVERSATION[:1], [images[0]])
    ids = torch.tensor([prompt["input_ids"]])
    out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values=prompt["pixel_values"],
                         image_grid_thw=prompt["image_grid_thw"],
                         mm_token_type_ids=torch.tensor([prompt["mm_token_type_ids"]]), max_new_tokens=3,
                         do_sample=False)
    assert out.shape[1] > ids.shape[1]
