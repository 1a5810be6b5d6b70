"""The KTO, ORPO, SimPO, CPO and reward-model stages end to end on the tiny Qwen2: a reward model learns to rank
a synthetic preference set, KTO / ORPO / SimPO / CPO train a few steps and leave checkpoints that load like SFT's,
and ``ftcore infer --score`` scores with the reward model."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from ftcore.config import config_from_dict

TOPICS = ["the sea", "a cat", "the moon", "bread", "a train", "rain", "a garden", "music", "snow", "a river",
          "coffee", "a mountain", "books", "the wind", "a clock", "tea"]


def pairs(n: int, seed: int = 0) -> list[dict]:
    """Chosen answers are polite and on topic; rejected ones are a curt refusal."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        out.append({"messages": [{"role": "user", "content": f"Tell me about {topic}."}],
                    "chosen": f"Gladly! Here is a short note about {topic}.",
                    "rejected": rng.choice(["No.", "I will not.", "Go away."])})
    return out


def config(tmp: Path, stage: str, rows: list[dict], steps: int, **extra: object) -> object:
    data = tmp / f"{stage}.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    train = {"stage": stage, "max_steps": steps, "batch_size": 4, "grad_accum": 1, "lr": 5e-3,
             "eval_steps": steps, "save_steps": steps, "logging_steps": 1, "dataloader_num_workers": 0,
             "warmup_ratio": 0.0}
    return config_from_dict(
        {
            "model": {"name": "ftcore-tiny-qwen2"},
            "template": {"max_length": 64},
            "data": {"datasets": [{"path": str(data)}], "test_ratio": 0.25, "sample": -1},
            "tuner": {"method": "lora", "targets": "all", "rank": 8, "alpha": 16, "dropout": 0.0},
            "train": train,
            "output": {"dir": str(tmp / "out")},
            **extra,
        },
        base_dir=str(tmp),
    )


def records(run) -> list[dict]:  # type: ignore[no-untyped-def]
    return [json.loads(x) for x in Path(run.output_dir, "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def rm_run(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from ftcore.training import train

    tmp = tmp_path_factory.mktemp("rm")
    return train(config(tmp, "rm", pairs(64), 30, rm={"center_rewards_coefficient": 0.01}))


def test_reward_model_learns_to_rank(rm_run) -> None:  # type: ignore[no-untyped-def]
    final = [r for r in records(rm_run) if "eval_rewards/accuracies" in r][-1]
    assert final["eval_rewards/accuracies"] > 0.9
    assert final["eval_rewards/margins"] > 0
    ckpt = Path(rm_run.last_checkpoint)
    assert (ckpt / "adapter_model.safetensors").is_file()
    saved = json.loads((ckpt / "adapter_config.json").read_text())
    assert "score" in saved["modules_to_save"]  # the head trains in full and is saved with the adapter


def test_infer_score_ranks_with_the_reward_model(rm_run, ftcore_cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    rows = [{"prompt": "Tell me about the sea.", "answer": "Gladly! Here is a short note about the sea."},
            {"prompt": "Tell me about the sea.", "answer": "Go away."}]
    inputs = tmp_path / "score.jsonl"
    inputs.write_text("".join(json.dumps(r) + "\n" for r in rows) + json.dumps({"text": "plain text"}) + "\n")
    code, out, err = ftcore_cli("infer", rm_run.last_checkpoint, "--score", str(inputs))
    assert code == 0, err
    scores = [float(x) for x in out.split()]
    assert len(scores) == 3 and scores[0] > scores[1]
    from ftcore.errors import FtcoreError
    from ftcore.inference.scoring import check_score_mode

    with pytest.raises(FtcoreError, match="--score FILE"):  # a reward model scores, it does not generate
        check_score_mode(rm_run.last_checkpoint, None)


@pytest.mark.parametrize("precompute", [False, True], ids=["reference", "precomputed"])
def test_kto_runs_and_its_checkpoint_loads(tmp_path, precompute) -> None:
    from ftcore.inference import load_checkpoint
    from ftcore.training import train

    rows = []
    for p in pairs(16):
        rows.append({"messages": [*p["messages"], {"role": "assistant", "content": p["chosen"]}], "label": True})
        rows.append({"messages": [*p["messages"], {"role": "assistant", "content": p["rejected"]}], "label": False})
    run = train(config(tmp_path, "kto", rows, 4, kto={"beta": 0.1, "desirable_weight": 1.0,
                                                     "undesirable_weight": 1.0, "precompute_ref": precompute}))
    logged = [r for r in records(run) if "loss" in r]
    assert len(logged) == 4 and all(r["loss"] == r["loss"] for r in logged)
    assert "kl" in logged[-1] and "rewards/chosen" in logged[-1]
    model, _, template, cfg = load_checkpoint(run.last_checkpoint)
    assert cfg.train.stage == "kto" and template is not None
    assert type(model.base_model.model).__name__ == "Qwen2ForCausalLM"  # a policy: generates like an SFT one


@pytest.mark.parametrize(("stage", "table"), [("orpo", {"beta": 0.1}), ("simpo", {"beta": 2.0, "gamma": 0.5}),
                                              ("cpo", {"beta": 0.1, "loss_type": "hinge"})])
def test_reference_free_stages_run(tmp_path, stage, table) -> None:
    from ftcore.training import train

    run = train(config(tmp_path, stage, pairs(12), 3, **{stage: table}))
    logged = [r for r in records(run) if "loss" in r]
    assert len(logged) == 3 and "rewards/margins" in logged[-1] and "nll_loss" in logged[-1]
    assert Path(run.last_checkpoint, "adapter_model.safetensors").is_file()


def test_reward_model_merges_and_scores_the_same(rm_run) -> None:  # type: ignore[no-untyped-def]
    from ftcore.inference import load_checkpoint
    from ftcore.inference.merge import merge_lora
    from ftcore.inference.score import score

    items = [{"prompt": "Tell me about rain.", "answer": "Gladly! Here is a short note about rain."}, "No."]
    model, tok, template, _ = load_checkpoint(rm_run.last_checkpoint)
    merged = merge_lora(rm_run.last_checkpoint)
    m_model, m_tok, m_template, _ = load_checkpoint(merged)
    assert type(m_model).__name__ == "Qwen2ForSequenceClassification"
    assert score(m_model, m_tok, m_template, items) == pytest.approx(score(model, tok, template, items), abs=1e-4)


def test_ftcore_eval_reports_the_reward_models_accuracy(rm_run, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from ftcore.cli import main

    out = tmp_path / "report.json"
    assert main(["eval", rm_run.last_checkpoint, "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    final = [r for r in records(rm_run) if "eval_rewards/accuracies" in r][-1]
    m = report["metrics"]
    assert report["stage"] == "rm" and report["pairs"] == len(report["records"]) == 16
    for name in ("rewards/accuracies", "rewards/margins", "rewards/chosen", "rewards/rejected"):
        assert m[name] == pytest.approx(final[f"eval_{name}"], rel=1e-4, abs=1e-6), name
    assert m["rewards/accuracies"] > 0.9 and "logps/chosen" not in m  # the score head's rewards, no log-probs
