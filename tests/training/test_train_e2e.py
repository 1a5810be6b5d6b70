"""End to end on the tiny quick-start model: loss falls, best/last checkpoints exist and load with plain peft
(same logits), the run folder is complete, a greedy answer reproduces the training data, and a run killed while
saving never leaves a checkpoint that looks complete."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ftcore.config import config_from_dict
from ftcore.outputs import checkpoint_dirs, read_state

QUERY = "What is the secret word?"
ANSWER = "The secret word is pineapple."


def _config(tmp: Path, **train: object) -> object:
    rows = [{"query": q, "response": ANSWER} for q in
            (QUERY, "Tell me the secret word.", "secret word?", "What's the secret word?")] * 6
    data = tmp / "secret.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return config_from_dict(
        {
            "model": {"name": "ftcore-tiny-qwen2"},
            "template": {"max_length": 64},
            "data": {"datasets": [{"path": str(data)}], "test_ratio": 0.2, "packing": False, "sample": -1},
            "tuner": {"method": "lora", "targets": "all", "rank": 8, "alpha": 16, "dropout": 0.0},
            "train": {"max_steps": 48, "batch_size": 4, "grad_accum": 1, "lr": 5e-3, "eval_steps": 16,
                      "logging_steps": 2, "save_total_limit": 2, "dataloader_num_workers": 0, "warmup_ratio": 0.0,
                      **train},
            "output": {"dir": str(tmp / "out")},
        },
        base_dir=str(tmp),
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from ftcore.training import train

    tmp = tmp_path_factory.mktemp("e2e")
    return train(_config(tmp))


@pytest.mark.slow
def test_loss_falls_by_half(run) -> None:  # type: ignore[no-untyped-def]
    records = [json.loads(x) for x in Path(run.output_dir, "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in records if "loss" in r]
    assert losses[-1] <= losses[0] / 2
    assert run.metrics["last_loss"] == pytest.approx(losses[-1])
    assert any("tokens_per_second" in r for r in records)
    assert any("eval_loss" in r for r in records if r["step"] == 48)  # the final step is always evaluated


@pytest.mark.slow
def test_run_folder_layout(run) -> None:  # type: ignore[no-untyped-def]
    out = Path(run.output_dir)
    assert out.parent.name == "ftcore-tiny-qwen2" and out.name.startswith("v0-")
    for name in ("run.toml", "manifest.json", "metrics.jsonl", "loss.png", "checkpoints.json"):
        assert (out / name).is_file(), name
    assert any((out / "logs").rglob("events.out.tfevents.*"))
    manifest = json.loads((out / "manifest.json").read_text())
    assert {"ftcore", "torch", "transformers", "peft"} <= set(manifest["versions"])
    assert manifest["datasets"] and manifest["model"]["name"] == "ftcore-tiny-qwen2"
    assert "token" not in json.dumps(manifest).lower().replace("tokens", "").replace("tokenizer", "")
    kept = [p.name for p in checkpoint_dirs(out)]
    assert len(kept) <= 2 and "checkpoint-48" in kept
    assert not [p for p in out.iterdir() if p.name.startswith(".tmp-")]
    state = read_state(out)
    assert Path(run.last_checkpoint).name == state["last"] == "checkpoint-48"
    assert Path(run.best_checkpoint).name == state["best"] and Path(run.best_checkpoint).is_dir()
    last = Path(run.last_checkpoint)
    for name in ("adapter_model.safetensors", "adapter_config.json", "tokenizer.json", "ftcore_run.toml"):
        assert (last / name).is_file(), name
    assert not list(last.glob("*model*.bin"))  # weights in safetensors only
    run_toml = (last / "ftcore_run.toml").read_text()
    assert 'name = "ftcore-tiny-qwen2"' in run_toml and "lr = 0.005" in run_toml and "q_proj" in run_toml


@pytest.mark.slow
def test_adapter_loads_with_plain_peft_same_logits(run) -> None:  # type: ignore[no-untyped-def]
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from ftcore.models.hub import materialize_builtin

    ids = torch.tensor([[5, 17, 42, 99, 3, 250]])
    trained = run.model.eval()
    with torch.no_grad():
        expected = trained(input_ids=ids).logits
    for ckpt in {run.last_checkpoint, run.best_checkpoint}:
        base = AutoModelForCausalLM.from_pretrained(materialize_builtin("tiny-qwen2"))
        plain = PeftModel.from_pretrained(base, ckpt).eval()
        with torch.no_grad():
            got = plain(input_ids=ids).logits
        if ckpt == run.last_checkpoint:
            torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
        assert got.shape == expected.shape


@pytest.mark.slow
def test_greedy_answer_reproduces_training_data(run) -> None:  # type: ignore[no-untyped-def]
    import torch
    from transformers import AutoTokenizer

    from ftcore.registry import get_catalog
    from ftcore.templates import get_template

    tok = AutoTokenizer.from_pretrained(run.last_checkpoint)
    template = get_template("chatml", tok, model_spec=get_catalog().models.get("ftcore-tiny-qwen2"))
    prompt = template.encode_prompt([{"role": "user", "content": QUERY}])
    model = run.model.eval()
    with torch.no_grad():
        out = model.generate(input_ids=torch.tensor([prompt]), max_new_tokens=20, do_sample=False,
                             eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    assert tok.decode(out[0, len(prompt):], skip_special_tokens=True).strip() == ANSWER


@pytest.mark.slow
def test_killed_while_saving_leaves_no_complete_looking_checkpoint(tmp_path: Path, monkeypatch) -> None:
    from ftcore.errors import FtcoreError
    from ftcore.training import resolve_checkpoint, train
    from ftcore.training.trainer import FtcoreTrainer

    def dies_half_way(self, output_dir=None, _internal_call=False):  # type: ignore[no-untyped-def]
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        (Path(output_dir) / "adapter_model.safetensors").write_bytes(b"half")
        raise KeyboardInterrupt  # the process is killed in the middle of writing

    monkeypatch.setattr(FtcoreTrainer, "save_model", dies_half_way)
    cfg = _config(tmp_path, max_steps=2, eval_steps=2)
    with pytest.raises(KeyboardInterrupt):
        train(cfg)
    run_dir = next(p for p in (tmp_path / "out" / "ftcore-tiny-qwen2").iterdir() if p.is_dir())
    assert (run_dir / ".tmp-checkpoint-2").is_dir()  # the partial write is under the temporary name
    assert checkpoint_dirs(run_dir) == []
    assert not (run_dir / "checkpoint-2").exists()
    with pytest.raises(FtcoreError, match="no run with a complete checkpoint"):
        resolve_checkpoint(f"latest:{tmp_path / 'out'}")
    from transformers.trainer_utils import get_last_checkpoint

    assert get_last_checkpoint(str(run_dir)) is None  # resume never picks up the half checkpoint
    # the next run gets the next version, whatever the killed one left behind
    monkeypatch.undo()
    again = train(_config(tmp_path, max_steps=2, eval_steps=2))
    assert Path(again.output_dir).name.startswith("v1-")
    assert Path(again.last_checkpoint).name == "checkpoint-2"


@pytest.mark.slow
def test_resume_latest_continues_in_a_new_version(run) -> None:  # type: ignore[no-untyped-def]
    from ftcore.training import train

    tmp = Path(run.output_dir).parents[2]
    again = train(_config(tmp, max_steps=50, resume_from_checkpoint="latest"))
    assert Path(again.output_dir).name.startswith("v1-")
    assert Path(again.last_checkpoint).name == "checkpoint-50"
    manifest = json.loads(Path(again.output_dir, "manifest.json").read_text())
    assert manifest["resumed_from"] == run.last_checkpoint
