"""The public ModelLoader: its steps run in order, a subclass overrides one step, ModelSpec.loader selects it
(a class, a "module:Class" string resolved only when loading, or a plain function), and models imports no
training / inference module."""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Any

import pytest

import ftcore
from ftcore.errors import FtcoreError
from ftcore.models import load_with
from ftcore.models.loading import ModelLoader, loader_class
from ftcore.specs import ModelOptions, ModelSpec
from ftcore.testing import build_tiny_model_dir

SRC = Path(__file__).resolve().parents[2] / "src" / "ftcore"


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return build_tiny_model_dir(tmp_path_factory.mktemp("loader-tiny"), arch="llama")


class RecordingLoader(ModelLoader):
    """Records the steps it runs, and marks the model (what a family's post-process would do)."""

    steps: list[str] = []

    def check(self) -> None:
        self.steps.append("check")
        super().check()

    def load_tokenizer(self) -> Any:
        self.steps.append("load_tokenizer")
        return super().load_tokenizer()

    def load_config(self) -> Any:
        self.steps.append("load_config")
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(self.model_dir)
        config.ftcore_marker = "configured"
        return config

    def from_pretrained_kwargs(self, config: Any = None) -> dict[str, Any]:
        self.steps.append("from_pretrained_kwargs")
        return super().from_pretrained_kwargs(config)

    def load_model(self, kwargs: dict[str, Any]) -> Any:
        self.steps.append("load_model")
        return super().load_model(kwargs)

    def post_process(self, model: Any, tokenizer: Any) -> Any:
        self.steps.append("post_process")
        model = super().post_process(model, tokenizer)
        model.ftcore_family = "recording"
        return model


def test_model_loader_is_public() -> None:
    assert ftcore.ModelLoader is ModelLoader
    assert "ModelLoader" in ftcore.__all__


def test_steps_run_in_order_and_a_subclass_overrides_one(tiny_dir: str) -> None:
    RecordingLoader.steps = []
    spec = ModelSpec(name="t", path=tiny_dir)
    model, tok = RecordingLoader(spec, ModelOptions(model_dir=tiny_dir, dtype="fp32"))()
    assert RecordingLoader.steps == [
        "check", "load_tokenizer", "load_config", "from_pretrained_kwargs", "load_model", "post_process"
    ]
    assert model.ftcore_family == "recording" and model.config.ftcore_marker == "configured"
    assert model.config.pad_token_id == tok.pad_token_id


def test_tokenizer_only_stops_after_the_tokenizer(tiny_dir: str) -> None:
    RecordingLoader.steps = []
    spec = ModelSpec(name="t", path=tiny_dir)
    model, tok = RecordingLoader(spec, ModelOptions(model_dir=tiny_dir, load_model=False)).load()
    assert model is None and tok is not None
    assert RecordingLoader.steps == ["check", "load_tokenizer"]


def test_from_pretrained_kwargs(tiny_dir: str) -> None:
    import torch

    spec = ModelSpec(name="t", path=tiny_dir, loader_kwargs={"low_cpu_mem_usage": True})
    options = ModelOptions(model_dir=tiny_dir, dtype="bf16", attn="sdpa", device_map={"": "cpu"},
                           max_memory={"cpu": "1GiB"})
    kwargs = ModelLoader(spec, options).from_pretrained_kwargs()
    assert kwargs == {
        "dtype": torch.bfloat16, "trust_remote_code": False, "use_safetensors": True, "attn_implementation": "sdpa",
        "device_map": {"": "cpu"}, "max_memory": {"cpu": "1GiB"}, "low_cpu_mem_usage": True,
    }
    assert ModelLoader(spec, ModelOptions(model_dir=tiny_dir)).quantization_kwargs() == {}


def test_remote_code_family_needs_trust(tiny_dir: str) -> None:
    class RemoteLoader(ModelLoader):
        remote_code = True
        family = "Remote"

    with pytest.raises(FtcoreError, match=r"own Python code \(Remote\) from .*; set model.trust_remote_code = true"):
        RemoteLoader(ModelSpec(name="r", path=tiny_dir), ModelOptions(model_dir=tiny_dir)).load()


def test_spec_loader_class_string_and_function(tiny_dir: str) -> None:
    RecordingLoader.steps = []
    options = ModelOptions(model_dir=tiny_dir, dtype="fp32")
    model, _ = load_with(ModelSpec(name="t", path=tiny_dir, loader=RecordingLoader), options)
    assert model.ftcore_family == "recording"
    dotted = f"{__name__}:RecordingLoader"
    assert ModelSpec(name="t", path=tiny_dir, loader=dotted).problems() == []
    model, _ = load_with(ModelSpec(name="t", path=tiny_dir, loader=dotted), options)
    assert model.ftcore_family == "recording"
    seen = []
    load_with(ModelSpec(name="t", path=tiny_dir, loader=lambda spec, opts: seen.append(spec.name) or (None, None)),
              options)
    assert seen == ["t"]


def test_spec_loader_errors_are_one_line() -> None:
    assert ModelSpec(name="t", path="x", loader=3).problems()  # neither a class, a function nor "module:Class"
    with pytest.raises(FtcoreError, match="cannot be imported"):
        loader_class("no_such_module_xyz:Loader")
    with pytest.raises(FtcoreError, match="not a subclass of ftcore.ModelLoader"):
        loader_class("pathlib:Path")


def test_declaring_a_spec_with_a_loader_string_imports_nothing_heavy() -> None:
    import subprocess

    code = (
        "import sys, ftcore; ftcore.ModelSpec(name='m', path='x', loader='pkg.loading:MyLoader'); "
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _ftcore_imports(path: Path) -> set[str]:
    """Every ftcore module ``path`` imports, imports inside functions included."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ftcore"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("ftcore"))
    return found


def test_models_imports_neither_training_nor_inference() -> None:
    for path in sorted((SRC / "models").glob("*.py")):
        upward = {m for m in _ftcore_imports(path)
                  if m.startswith(("ftcore.training", "ftcore.inference", "ftcore.commands", "ftcore.cli"))}
        assert not upward, f"{path.name} imports {sorted(upward)}"
