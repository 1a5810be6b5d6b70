"""The core's multimodal pieces on a tiny Qwen2-VL with the core's own test template (ftcore.testing.vision, no
plugin): the data pipeline keeps pixel inputs (and resolves relative image paths), the collator batches them,
the loss-only head equals the model's own loss with images, LoRA ``all`` leaves the vision tower out, and inference refuses images for a text template."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from ftcore.errors import FtcoreError


@pytest.fixture(scope="module")
def tokenizer(vl_dir: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(vl_dir)


@pytest.fixture(scope="module")
def template(tokenizer):
    from ftcore.testing.vision import TINY_VISION_TEMPLATE, TinyVisionTemplate

    return TinyVisionTemplate.build(TINY_VISION_TEMPLATE, tokenizer)  # the core's own (no plugin)


@pytest.fixture(scope="module")
def model(vl_dir: str):
    import torch
    from transformers import AutoModelForImageTextToText

    torch.manual_seed(0)
    return AutoModelForImageTextToText.from_pretrained(vl_dir, dtype=torch.float32)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory, dataset: Path, template, tokenizer):
    from ftcore.config import config_from_dict
    from ftcore.data import prepare_data

    cache = tmp_path_factory.mktemp("cache")
    cfg = config_from_dict({"model": {"path": "unused"},
                            "data": {"datasets": [{"path": str(dataset)}], "test_ratio": 0.0, "sample": -1,
                                     "cache_dir": str(cache)}})
    first = prepare_data(cfg, template, tokenizer)
    second = prepare_data(cfg, template, tokenizer)
    return first, second


@pytest.mark.slow  # builds the tiny model and tokenizes twice (the cache)
def test_pipeline_keeps_pixel_inputs_through_encoding_and_cache(prepared) -> None:
    first, second = prepared
    assert not first.cache_hit and second.cache_hit
    for data in (first, second):
        train = data.train
        assert len(train) == 4  # relative image paths were found next to the jsonl
        assert {"pixel_values", "image_grid_thw"} <= set(train.column_names)
        assert str(train.features["pixel_values"].feature.feature.dtype) == "float32"
        assert str(train.features["image_grid_thw"].feature.feature.dtype) == "int64"
        row = train[1]
        grid = row["image_grid_thw"][0]
        assert len(row["pixel_values"]) == grid[0] * grid[1] * grid[2]
    assert first.train[1]["pixel_values"] == second.train[1]["pixel_values"]


def test_relative_image_paths_resolve_against_the_data_file(dataset: Path) -> None:
    from ftcore.data.pipeline import get_dataset

    train, _ = get_dataset([{"path": str(dataset)}], test_ratio=0.0)
    assert train[0]["images"] == [str(dataset.parent / "images" / "img0.png")]


def test_collator_batches_pixels_and_marks_image_tokens(prepared, template, tokenizer, model) -> None:
    import torch

    from ftcore.data.collate import make_collator

    train = prepared[0].train
    features = [train[0], train[1], {"input_ids": [1, 2, 3], "labels": [1, 2, 3], "pixel_values": [],
                                     "image_grid_thw": []}]
    cfg = SimpleNamespace(data=SimpleNamespace(packing=False))
    batch = make_collator(cfg, tokenizer, template=template, model=model)(features)
    pad = tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert batch["image_grid_thw"].shape == (2, 3) and batch["image_grid_thw"].dtype == torch.long
    assert batch["pixel_values"].shape[0] == int(batch["image_grid_thw"].prod(-1).sum())
    assert batch["pixel_values"].dtype == torch.float32
    assert torch.equal(batch["mm_token_type_ids"], (batch["input_ids"] == pad).long() * batch["attention_mask"])
    assert int(batch["mm_token_type_ids"][2].sum()) == 0
    packed = make_collator(SimpleNamespace(data=SimpleNamespace(packing=True)), tokenizer, template=template,
                           model=model)
    with pytest.raises(FtcoreError, match="cannot be packed"):
        packed(features)


def test_collator_defers_to_a_template_collate_hook(tokenizer) -> None:
    from ftcore.data.collate import make_collator

    calls = []
    hook = SimpleNamespace(takes_images=True,
                           collate=lambda features: calls.append(len(features)) or {"custom": True})
    collate = make_collator(SimpleNamespace(data=SimpleNamespace(packing=False)), tokenizer, template=hook)
    assert collate([{"input_ids": [1], "labels": [1], "pixel_values": [[0.5]]}]) == {"custom": True}
    assert calls == [1]
    assert "custom" not in collate([{"input_ids": [1], "labels": [1]}])  # text batches: the padding collator


def test_loss_only_head_equals_the_models_own_loss_with_images(prepared, template, tokenizer, model) -> None:
    import torch

    from ftcore.data.collate import make_collator
    from ftcore.training.loss import causal_lm_loss, full_logits_loss

    train = prepared[0].train
    cfg = SimpleNamespace(data=SimpleNamespace(packing=False))
    batch = make_collator(cfg, tokenizer, template=template, model=model)([train[0], train[1]])
    fast = causal_lm_loss(model, dict(batch), loss_only_head=True)
    full = full_logits_loss(model, dict(batch))
    own = model(**batch, use_cache=False).loss
    assert torch.isfinite(fast)
    torch.testing.assert_close(fast, full, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(fast, own, rtol=1e-4, atol=1e-4)
    fast.backward()
    assert model.model.visual.patch_embed.proj.weight.grad is not None  # the pixels went through the tower
    model.zero_grad(set_to_none=True)


def test_lora_all_targets_leave_the_vision_tower_out(model) -> None:
    from ftcore.tuners import linear_module_names, resolve_targets

    targets = resolve_targets(model, "all")
    assert targets == linear_module_names(model)
    assert set(targets) == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}


def test_lora_all_uses_full_names_when_the_tower_shares_a_name() -> None:
    import torch

    from ftcore.tuners import resolve_targets

    class Tiny(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.vision_tower = torch.nn.ModuleDict({"q_proj": torch.nn.Linear(2, 2)})
            self.language_model = torch.nn.ModuleDict({"q_proj": torch.nn.Linear(2, 2),
                                                       "up": torch.nn.Linear(2, 2)})
            self.lm_head = torch.nn.Linear(2, 3)

    assert resolve_targets(Tiny(), "all") == ["language_model.q_proj", "language_model.up"]


def test_images_with_a_text_template_are_refused(tokenizer, dataset: Path) -> None:
    from ftcore.inference.generate import inference
    from ftcore.templates import get_template

    chatml = get_template("chatml", tokenizer)
    with pytest.raises(FtcoreError, match="takes no images"):
        inference(object(), chatml, "hi", images=[str(dataset.parent / "images" / "img0.png")])


def test_prompt_with_images_places_them_in_the_current_turn(template, dataset: Path, tokenizer) -> None:
    from ftcore.inference.generate import _prompt_with_images

    image = str(dataset.parent / "images" / "img0.png")
    ids, extra = _prompt_with_images(template, "and this?", [("hello", "hi")], None, [image])
    text = tokenizer.decode(ids)
    assert text.index("<|vision_start|>") > text.index("hi")  # after the first exchange
    assert set(extra) >= {"pixel_values", "image_grid_thw", "mm_token_type_ids"}
    with pytest.raises(FtcoreError, match="image not found"):
        _prompt_with_images(template, "x", [], None, ["/no/such.png"])


def test_a_text_template_ignores_images_with_a_warning(tmp_path: Path, dataset: Path, tokenizer,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    from ftcore.config import config_from_dict
    from ftcore.data import prepare_data
    from ftcore.templates import get_template

    cfg = config_from_dict({"model": {"path": "unused"},
                            "data": {"datasets": [{"path": str(dataset)}], "test_ratio": 0.0, "sample": -1,
                                     "cache_dir": str(tmp_path)}})
    with caplog.at_level("WARNING", logger="ftcore.data"):
        data = prepare_data(cfg, get_template("chatml", tokenizer), tokenizer)
    assert set(data.train.column_names) == {"input_ids", "labels", "length"}
    assert "takes no images" in caplog.text


def test_lazy_mode_keeps_pixel_inputs(tmp_path: Path, dataset: Path, template, tokenizer) -> None:
    from ftcore.config import config_from_dict
    from ftcore.data import prepare_data

    cfg = config_from_dict({"model": {"path": "unused"},
                            "data": {"datasets": [{"path": str(dataset)}], "test_ratio": 0.0, "sample": -1,
                                     "lazy": True, "cache_dir": str(tmp_path)}})
    row = prepare_data(cfg, template, tokenizer).train[0]
    assert {"pixel_values", "image_grid_thw"} <= set(row) and len(row["pixel_values"]) > 0


def test_streaming_mode_keeps_pixel_inputs(tmp_path: Path, dataset: Path, template, tokenizer) -> None:
    from ftcore.config import config_from_dict
    from ftcore.data import prepare_data

    cfg = config_from_dict({"model": {"path": "unused"},
                            "data": {"datasets": [{"path": str(dataset)}], "test_ratio": 0.0, "sample": -1,
                                     "streaming": True, "cache_dir": str(tmp_path)},
                            "train": {"max_steps": 2}})
    rows = list(prepare_data(cfg, template, tokenizer).train)
    assert len(rows) == 4
    for row in rows:
        assert {"input_ids", "labels", "length", "pixel_values", "image_grid_thw"} == set(row)
        pad = tokenizer.convert_tokens_to_ids("<|image_pad|>")
        grid = row["image_grid_thw"][0]
        assert row["input_ids"].count(pad) == grid[0] * grid[1] * grid[2] // 4
        assert len(row["pixel_values"]) == grid[0] * grid[1] * grid[2]
