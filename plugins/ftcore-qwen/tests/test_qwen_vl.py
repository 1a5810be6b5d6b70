"""Qwen-VL (Qwen-1 generation): images travel as ``Picture N: <img>PATH</img>`` in the text, which Qwen-VL's
tokenizer turns into an image span and its model code opens by name. The stand-in in fixtures/qwen1 does both the
real way (path bytes as ids, the tower run on the opened file), so these tests show the image reaches the model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ftcore.errors import FtcoreError
from ftcore.templates import IGNORE_INDEX, SkipSample, get_template

ANSWER = "a noisy square"


@pytest.fixture(scope="module")
def tokenizer(qwen_vl_dir):
    """Loaded by the plugin (eos = pad = <|endoftext|>, which the remote tokenizer lacks)."""
    from ftcore import ModelOptions
    from ftcore.plugins import get_plugin_manager
    from ftcore.registry import get_catalog

    spec = get_catalog().models.get("qwen-vl-chat")
    opts = ModelOptions(model_dir=qwen_vl_dir, dtype="fp32", trust_remote_code=True, load_model=False)
    return get_plugin_manager().hook.load_model(spec=spec, options=opts)[1]


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> list[str]:
    import numpy as np
    from PIL import Image

    folder = tmp_path_factory.mktemp("vl-images")
    rng = np.random.default_rng(0)
    paths = []
    for i in range(3):
        path = folder / f"img{i}.png"
        Image.fromarray((rng.random((20 + 4 * i, 24, 3)) * 255).astype("uint8")).save(path)
        paths.append(str(path))
    return paths


def convo(query: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": query}, {"role": "assistant", "content": ANSWER}]


def test_the_seed_models_use_the_qwen_vl_templates():
    from ftcore.registry import get_catalog

    models = get_catalog().models
    assert models.get("qwen-vl-chat").template == "qwen-vl"
    assert models.get("qwen-vl-chat-int4").template == "qwen-vl"
    assert models.get("qwen-vl").template == "qwen-vl-generation"


@pytest.mark.parametrize(("name", "base"), [("qwen-vl", "chatml"), ("qwen-vl-generation", "default")])
def test_text_only_samples_encode_as_the_seed_template(tokenizer, name, base):
    messages = convo("What is this?")
    assert get_template(name, tokenizer).encode(messages) == get_template(base, tokenizer).encode(messages)


def test_images_become_img_tags_and_an_image_span_without_loss(tokenizer, images):
    t = get_template("qwen-vl", tokenizer)
    enc = t.encode(convo("What is this?"), [images[0]])
    start = tokenizer.img_start_id
    assert enc["input_ids"].count(start) == 1 and set(enc) == {"input_ids", "labels"}
    at = enc["input_ids"].index(start)
    span = enc["input_ids"][at + 1: at + 1 + tokenizer.image_span]
    path = bytes(i for i in span if i < 256).decode()
    assert path == str(Path(images[0]).resolve())
    assert all(label == IGNORE_INDEX for label in enc["labels"][: at + tokenizer.image_span + 2])
    learned = [i for i, label in zip(enc["input_ids"], enc["labels"], strict=True) if label != IGNORE_INDEX]
    assert tokenizer.decode(learned) == ANSWER + "<|im_end|>"
    text = tokenizer.decode(enc["input_ids"][:at])
    assert text.endswith("<|im_start|>user\nPicture 1: ")


def test_placeholders_tags_and_several_images(tokenizer, images):
    from ftcore_qwen.qwen_vl import with_image_tags

    two = with_image_tags(convo("<image>and<image>: same?"), images[:2])
    refs = [str(Path(p).resolve()) for p in images[:2]]
    assert two[0]["content"] == f"Picture 1: <img>{refs[0]}</img>\nandPicture 2: <img>{refs[1]}</img>\n: same?"
    first = with_image_tags(convo("Compare."), images[:2])
    assert first[0]["content"].startswith(f"Picture 1: <img>{refs[0]}</img>\nPicture 2: <img>{refs[1]}</img>\n")
    coco = convo(f"<img>{images[0]}</img>please describe the image")  # ms-swift's coco-en form: kept as it is
    assert with_image_tags(coco, [images[0]]) == coco
    with pytest.raises(SkipSample, match="image count mismatch"):
        with_image_tags(convo("<image>?"), images[:2])
    with pytest.raises(SkipSample, match="image not found"):
        with_image_tags(convo("?"), ["/no/such.png"])
    from PIL import Image

    with pytest.raises(FtcoreError, match="by file path or URL"):
        with_image_tags(convo("?"), [Image.new("RGB", (4, 4))])
    assert with_image_tags(convo("?"), ["https://example.com/a.png"])[0]["content"].startswith(
        "Picture 1: <img>https://example.com/a.png</img>\n")


def test_a_sample_with_images_is_skipped_not_truncated(tokenizer, images):
    with pytest.raises(SkipSample, match="too long"):
        get_template("qwen-vl", tokenizer, max_length=64).encode(convo("What is this?"), [images[0]])


def test_the_model_sees_the_image(qwen_vl_dir, tokenizer, images):
    """Two images in the same sample give different logits on the answer: the stand-in opened each file."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(qwen_vl_dir, trust_remote_code=True, dtype=torch.float32).eval()
    t = get_template("qwen-vl", tokenizer)
    logits = []
    for path in images[:2]:
        ids = torch.tensor([t.encode(convo("What is this?"), [path])["input_ids"]])
        with torch.no_grad():
            logits.append(model(input_ids=ids).logits[0, -5:])
    assert not torch.allclose(logits[0], logits[1])


@pytest.mark.slow
def test_train_on_images_then_infer_with_an_image(qwen_vl_dir, images, tmp_path, caplog):
    """ftcore.train on a jsonl with an ``images`` column (qwen-vl-chat, LoRA on c_attn, the vision tower frozen),
    then ftcore.infer with an image (the image reaching the model is test_the_model_sees_the_image's point)."""
    import logging
    import math

    import ftcore

    rows = [{"query": "What is in the picture?", "response": ANSWER, "images": [p]} for p in images[:2]]
    data = tmp_path / "vl.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    cfg = {
        "model": {"name": "qwen-vl-chat", "path": qwen_vl_dir, "dtype": "fp32", "trust_remote_code": True},
        "data": {"datasets": [{"path": str(data)}], "test_ratio": 0.0, "cache_dir": str(tmp_path / "cache")},
        "tuner": {"method": "lora", "rank": 4, "alpha": 8, "dropout": 0.0},
        "train": {"max_steps": 2, "batch_size": 2, "lr": 1e-3, "warmup_ratio": 0.0, "logging_steps": 1,
                  "report_to": []},
        "output": {"dir": str(tmp_path / "out")},
    }
    with caplog.at_level(logging.WARNING):
        result = ftcore.train(cfg)
    assert "takes no images" not in caplog.text
    assert math.isfinite(result.metrics["train_loss"])
    ckpt = Path(result.last_checkpoint)
    assert (ckpt / "adapter_config.json").is_file()
    assert json.loads((ckpt / "adapter_config.json").read_text())["target_modules"] == ["c_attn"]
    answer = ftcore.infer(str(ckpt), "What is in the picture?", images=[images[1]], do_sample=False,
                          max_new_tokens=3)
    assert isinstance(answer, str) and answer
