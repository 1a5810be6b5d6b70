"""Checkpoint references (latest: / best: / run folders) and load_checkpoint for LoRA and full checkpoints."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ftcore.errors import FtcoreError
from ftcore.inference import checkpoint_config, is_adapter, load_checkpoint, resolve_checkpoint


def test_best_and_latest_resolve_to_the_recorded_checkpoints(output_root: Path) -> None:
    run = output_root / "tiny" / "v0-20261128-101500"
    assert resolve_checkpoint(f"best:{output_root}") == run / "checkpoint-2"
    assert resolve_checkpoint(f"latest:{output_root}") == run / "checkpoint-2"  # the newest run's best
    assert resolve_checkpoint(f"latest-last:{output_root}") == run / "checkpoint-4"
    assert resolve_checkpoint(f"best:{output_root / 'tiny'}") == run / "checkpoint-2"
    assert resolve_checkpoint(run) == run / "checkpoint-2"
    assert resolve_checkpoint(run / "checkpoint-last") == run / "checkpoint-4"
    assert resolve_checkpoint(run / "checkpoint-4") == run / "checkpoint-4"


def test_latest_picks_the_newest_run(output_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "output"
    old = root / "tiny" / "v0-20261128-101500"
    shutil.copytree(output_root / "tiny" / "v0-20261128-101500", old)
    new = root / "tiny" / "v1-20261128-111500"
    (new / "checkpoint-8").mkdir(parents=True)
    shutil.copy(old / "run.toml", new / "run.toml")  # written later: the newer run
    assert resolve_checkpoint(f"latest:{root}") == new / "checkpoint-8"
    assert resolve_checkpoint(f"best:{root}") == new / "checkpoint-8"  # no eval recorded: its only checkpoint


@pytest.mark.parametrize("ref", ["does/not/exist", "latest:does/not/exist", "best:does/not/exist"])
def test_bad_reference_is_one_line_error(ref: str) -> None:
    with pytest.raises(FtcoreError) as info:
        resolve_checkpoint(ref)
    assert "\n" not in str(info.value)
    assert "does/not/exist" in str(info.value)


def test_folder_without_run_config_is_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(FtcoreError) as info:
        load_checkpoint(tmp_path)
    assert "ftcore_run.toml" in str(info.value) and "\n" not in str(info.value)


def test_checkpoint_config_is_the_run_config(lora_ckpt: Path) -> None:
    cfg = checkpoint_config(lora_ckpt)
    assert cfg.template.name == "chatml"
    assert cfg.tuner.method == "lora"
    assert is_adapter(lora_ckpt)


def test_lora_checkpoint_loads_base_plus_adapter(loaded, lora_ckpt: Path, tiny_model_dir: str) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model, tokenizer, template, cfg = loaded
    assert isinstance(model, PeftModel)
    assert not model.training
    assert template.spec.name == "chatml"
    assert template.tokenizer is tokenizer
    assert cfg.tuner.method == "lora"
    reference = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(tiny_model_dir), str(lora_ckpt)
    ).eval()
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    ids = torch.tensor([tokenizer.encode("hello there")])
    with torch.no_grad():
        got = model(input_ids=ids).logits
        assert torch.allclose(got, reference(input_ids=ids).logits, atol=1e-5)
        # the adapter is really attached
        assert not torch.allclose(got, base(input_ids=ids).logits, atol=1e-3)


def test_full_checkpoint_loads_its_own_weights(full_ckpt: Path, tiny_model_dir: str) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model, tokenizer, template, cfg = load_checkpoint(full_ckpt)
    assert not isinstance(model, PeftModel)
    assert cfg.tuner.method == "full"
    reference = AutoModelForCausalLM.from_pretrained(full_ckpt).eval()
    ids = torch.tensor([tokenizer.encode("hello there")])
    with torch.no_grad():
        assert torch.allclose(model(input_ids=ids).logits, reference(input_ids=ids).logits, atol=1e-5)


def test_full_checkpoint_of_a_local_plugin_model_uses_its_loader(tmp_path: Path, tiny_model_dir: str) -> None:
    """One pass: the run's record names a local plugin file → its spec (with a ModelLoader) → the loader runs."""
    import shutil

    from ftcore import plugins
    from ftcore.inference import load_checkpoint

    plugin = tmp_path / "my_models.py"
    plugin.write_text(
        "import ftcore\n\n"
        "class MarkingLoader(ftcore.ModelLoader):\n"
        "    def post_process(self, model, tokenizer):\n"
        "        model = super().post_process(model, tokenizer)\n"
        "        model.ftcore_marked = self.spec.name\n"
        "        return model\n\n"
        "@ftcore.hookimpl\n"
        "def register_models(register):\n"
        "    register(ftcore.ModelSpec(name='my-local-model', hub={'huggingface': 'nobody/my-local-model'},\n"
        "                              template='chatml', loader=MarkingLoader))\n",
        encoding="utf-8",
    )
    ckpt = tmp_path / "run" / "checkpoint-1"
    shutil.copytree(tiny_model_dir, ckpt)
    data_file = tmp_path / "d.jsonl"
    data_file.write_text('{"query": "q", "response": "r"}\n', encoding="utf-8")
    (ckpt / "ftcore_run.toml").write_text(
        f'plugins = ["{plugin.as_posix()}"]\n[model]\nname = "my-local-model"\n'
        f'[data]\ndatasets = ["{data_file.as_posix()}"]\n[tuner]\nmethod = "full"\n[template]\nname = "chatml"\n',
        encoding="utf-8",
    )
    try:
        model, _, template, cfg = load_checkpoint(ckpt, allow_plugins=True)  # the run names a local plugin file
        assert model.ftcore_marked == "my-local-model" and cfg.model.name == "my-local-model"
        assert template is not None
    finally:
        plugins.reset()
