"""A quick-start-like pair of LoRA checkpoints on the tiny quick-start model (``ftcore-tiny-qwen2``), in the layout
``ftcore train`` writes, and one server on 127.0.0.1 (a free port) serving the first as ``tiny`` and the second as
adapter ``b``, shared by the module's tests.

output/ftcore-tiny-qwen2/v0-20261130-120000/   run.toml, checkpoints.json, checkpoint-4/ (adapter "tiny")
output-b/ftcore-tiny-qwen2/v0-20261130-130000/  the same with another adapter (served as "b")
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ftcore.config import config_from_dict, config_to_toml

#: served names; the context is kept short so an over-long prompt is cheap to build
MAIN, OTHER, MAX_MODEL_LEN = "tiny", "b", 256


def write_checkpoint(root: Path, stamp: str, seed: int) -> Path:
    """A run folder with one LoRA checkpoint (random, non-zero adapter weights) of the quick-start model."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ftcore.models.hub import materialize_builtin

    model_dir = materialize_builtin("tiny-qwen2")
    run = root / "ftcore-tiny-qwen2" / stamp
    ckpt = run / "checkpoint-4"
    torch.manual_seed(seed)
    lora = LoraConfig(r=8, lora_alpha=32, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
                      init_lora_weights=False, task_type="CAUSAL_LM")
    get_peft_model(AutoModelForCausalLM.from_pretrained(model_dir), lora).save_pretrained(ckpt)
    AutoTokenizer.from_pretrained(model_dir).save_pretrained(ckpt)
    cfg = config_from_dict({
        "model": {"name": "ftcore-tiny-qwen2"},
        "template": {"max_length": 128},
        "data": {"datasets": ["self-cognition-mini"], "test_ratio": 0.05, "sample": -1},
        "tuner": {"method": "lora", "targets": "all", "rank": 8, "alpha": 32, "dropout": 0.0},
        "generation": {"max_new_tokens": 16, "do_sample": False},
    })
    (ckpt / "ftcore_run.toml").write_text(config_to_toml(cfg), encoding="utf-8")
    (run / "run.toml").write_text(config_to_toml(cfg), encoding="utf-8")
    (run / "checkpoints.json").write_text(json.dumps({"best": "checkpoint-4", "last": "checkpoint-4"}))
    return ckpt


@pytest.fixture(scope="module", autouse=True)
def builtin_plugins_only() -> Any:
    """The server tests run with the built-in plugins only."""
    from ftcore import plugins

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FTCORE_LOAD_PLUGINS", "")
        plugins.reset()
        yield
    plugins.reset()


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("serve")
    return (write_checkpoint(root / "output", "v0-20261130-120000", 1),
            write_checkpoint(root / "output-b", "v0-20261130-130000", 2))


@pytest.fixture(scope="module")
def engine(checkpoints: tuple[Path, Path]) -> Any:
    from ftcore.serve import load_engine

    engine = load_engine(str(checkpoints[0]), {OTHER: str(checkpoints[1])}, served_name=MAIN,
                         max_model_len=MAX_MODEL_LEN)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def server(engine: Any) -> Any:
    from ftcore.serve.server import ServerThread

    with ServerThread(engine) as s:
        yield s


@pytest.fixture(scope="module")
def client(server: Any) -> Any:
    from openai import OpenAI

    return OpenAI(base_url=server.url + "/v1", api_key="not-checked", max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def reference(checkpoints: tuple[Path, Path]) -> Any:
    """``ftcore infer``'s way of answering (load_checkpoint + inference, greedy) for each served name."""
    from ftcore.inference import inference, load_checkpoint

    loaded = {MAIN: load_checkpoint(checkpoints[0]), OTHER: load_checkpoint(checkpoints[1])}

    def answer(model: str, query: str, history: Any = (), system: str | None = None, max_tokens: int = 12) -> str:
        m, _tok, template, cfg = loaded[model]
        return inference(m, template, query, history, system, generation=cfg.generation, do_sample=False,
                         max_new_tokens=max_tokens)

    answer.loaded = loaded  # type: ignore[attr-defined]
    return answer
