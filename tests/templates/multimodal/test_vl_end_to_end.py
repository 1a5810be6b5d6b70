"""Multimodal SFT through the core on a tiny Qwen2-VL: a jsonl with an ``images`` column (relative PNG paths) →
``ftcore.train`` (LoRA, vision tower frozen) → ``ftcore.infer`` / ``ftcore infer --image`` with an image."""

from __future__ import annotations

from pathlib import Path

import pytest

QUERY = "<image>What is in the picture?"  # as in conftest.py


def run_config(vl_dir: str, dataset: Path, out: Path, plugin: str, **train: object) -> dict:
    return {
        "plugins": [plugin],  # the core's own test template (tests use no installed plugin)
        "model": {"path": vl_dir, "dtype": "fp32"},
        "template": {"name": "ftcore-tiny-vl"},
        "data": {"datasets": [{"path": str(dataset)}], "test_ratio": 0.0, "sample": -1,
                 "cache_dir": str(out / "cache")},
        "tuner": {"method": "lora", "rank": 4, "alpha": 8, "dropout": 0.0, "targets": "all"},
        "train": {"max_steps": 2, "batch_size": 2, "grad_accum": 1, "lr": 1e-2, "warmup_ratio": 0.0,
                  "logging_steps": 1, "report_to": [], "dataloader_num_workers": 0, **train},
        "output": {"dir": str(out / "output")},
    }


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, vl_dir: str, dataset: Path, vl_plugin: str) -> Path:
    import ftcore

    work = tmp_path_factory.mktemp("vl-run")
    result = ftcore.train(run_config(vl_dir, dataset, work, vl_plugin))
    assert result.best_checkpoint is not None
    return Path(result.best_checkpoint)


@pytest.mark.slow
def test_train_two_steps_with_images_then_infer_with_an_image(trained: Path, dataset: Path) -> None:
    import ftcore

    image = dataset.parent / "images" / "img0.png"
    answer = ftcore.infer(str(trained), QUERY, images=[str(image)], do_sample=False, max_new_tokens=4)
    assert isinstance(answer, str)
    assert ftcore.infer(str(trained), QUERY, images=[str(image)], do_sample=False, max_new_tokens=4) == answer


@pytest.mark.slow
def test_cli_infer_with_image_and_chat_image_command(trained: Path, dataset: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    import io

    from ftcore.cli import main
    from ftcore.inference import infer_main

    image = str(dataset.parent / "images" / "img1.png")
    assert main(["infer", str(trained), "--image", image, "--query", QUERY, "--greedy", "--max-new-tokens", "3",
                 "--no-stream"]) == 0
    capsys.readouterr()
    lines = iter([f"/image {image}\n", "What is in the picture?\n", "/image /no/such.png\n", "and now?\n", ""])
    out = io.StringIO()
    records = infer_main(str(trained), chat=True, read=lambda: next(lines), out=out, max_new_tokens=3,
                         do_sample=False)
    text = out.getvalue()
    assert "image 1 attached to the next message" in text and "no image file" in text
    assert [r["query"] for r in records] == ["What is in the picture?", "and now?"]


@pytest.mark.slow
def test_full_weights_checkpoint_and_merged_model_carry_the_image_processor(
        tmp_path: Path, vl_dir: str, dataset: Path, trained: Path, vl_plugin: str) -> None:
    """A full fine-tune's checkpoint (and a merged LoRA model) holds preprocessor_config.json, so it infers with an
    image on its own, without the base model folder."""
    import shutil

    import ftcore
    from ftcore.inference.merge import merge_lora

    base = tmp_path / "base"
    shutil.copytree(vl_dir, base)
    cfg = run_config(str(base), dataset, tmp_path, vl_plugin, max_steps=1)
    cfg["tuner"] = {"method": "full"}
    ckpt = Path(ftcore.train(cfg).last_checkpoint)
    assert (ckpt / "preprocessor_config.json").is_file() and not (ckpt / "adapter_config.json").exists()
    copy = tmp_path / "moved"  # the checkpoint moved elsewhere, the base folder gone
    shutil.copytree(ckpt, copy)
    shutil.rmtree(base)
    image = str(dataset.parent / "images" / "img0.png")
    assert isinstance(ftcore.infer(str(copy), QUERY, images=[image], do_sample=False, max_new_tokens=2), str)
    assert (trained / "preprocessor_config.json").is_file()
    merged = merge_lora(trained, tmp_path / "merged")
    assert (merged / "preprocessor_config.json").is_file()
    assert isinstance(ftcore.infer(str(merged), QUERY, images=[image], do_sample=False, max_new_tokens=2), str)
