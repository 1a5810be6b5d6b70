"""``ftcore eval`` on KTO, ORPO / SimPO / CPO checkpoints: the stage's own rewards on the validation data, equal to
the ``eval_`` metrics the run logged at the same step (the reward-model case is in test_stages_e2e.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ftcore.training.stages.evaluate import kto_accuracies

from .test_stages_e2e import config, pairs, records


def _eval(ckpt: str, out: Path, *extra: str) -> dict:  # type: ignore[type-arg]
    from ftcore.cli import main

    assert main(["eval", ckpt, "--out", str(out), *extra]) == 0
    return json.loads(out.read_text())


def _final_eval(run) -> dict:  # type: ignore[no-untyped-def, type-arg]
    return [r for r in records(run) if "eval_loss" in r][-1]


def test_kto_accuracies_definitions() -> None:
    # rows: (prompt, label, reward) — desirable rewards in row order, then undesirable ones
    rows = [("a", True, 0.5), ("a", False, -0.2), ("b", True, -0.1), ("b", False, 0.3), ("b", False, -0.4),
            ("c", True, 0.2)]
    values = {"rewards/chosen": [r for _, y, r in rows if y], "rewards/rejected": [r for _, y, r in rows if not y]}
    out = kto_accuracies(values, [y for _, y, _ in rows], [p for p, _, _ in rows])
    assert out["rewards/margins"] == pytest.approx((0.5 - 0.1 + 0.2) / 3 - (-0.2 + 0.3 - 0.4) / 3)
    assert out["rewards/accuracies"] == pytest.approx(4 / 6)  # 0.5>0, -0.2<0, 0.2>0, -0.4<0 right
    # same-prompt (desirable, undesirable) pairs: a: 0.5>-0.2 ✓; b: -0.1>0.3 ✗, -0.1>-0.4 ✓; c has no pair
    assert out["rewards/pair_accuracies"] == pytest.approx(2 / 3) and out["answer_pairs"] == 3
    alone = kto_accuracies({"rewards/chosen": [1.0], "rewards/rejected": []}, [True], ["a"])
    assert alone == {"rewards/accuracies": 1.0}  # no undesirable answers: no margin, no pairs


def test_ftcore_eval_scores_a_kto_checkpoint(tmp_path: Path) -> None:
    from ftcore.training import train

    def kto_rows(prs: list[dict]) -> list[dict]:  # type: ignore[type-arg]
        out = []
        for p in prs:
            for answer, label in ((p["chosen"], True), (p["rejected"], False)):
                out.append({"messages": [*p["messages"], {"role": "assistant", "content": answer}], "label": label})
        return out

    cfg = config(tmp_path, "kto", kto_rows(pairs(12)), 4, kto={"beta": 0.1})
    val = tmp_path / "val.jsonl"  # both answers of each prompt: pairwise accuracy applies
    val.write_text("".join(json.dumps(r) + "\n" for r in kto_rows(pairs(4, seed=1))))
    cfg.data.validation = [str(val)]  # type: ignore[attr-defined]
    cfg.data.test_ratio = 0.0  # type: ignore[attr-defined]
    run = train(cfg)
    logged = _final_eval(run)
    report = _eval(run.last_checkpoint, tmp_path / "report.json")
    m = report["metrics"]
    assert report["stage"] == "kto" and report["rows"] == len(report["records"]) == 8
    # the same rewards, log-probs, KL and loss as the run's own evaluation at that step
    for name in ("rewards/chosen", "rewards/rejected", "logps/chosen", "logps/rejected", "kl"):
        assert m[name] == pytest.approx(logged[f"eval_{name}"], rel=1e-4, abs=1e-6), name
    assert m["loss"] == pytest.approx(logged["eval_loss"], rel=1e-4)
    recs = report["records"]
    good = [r["reward"] for r in recs if r["label"]]
    bad = [r["reward"] for r in recs if not r["label"]]
    assert good and bad
    assert m["rewards/margins"] == pytest.approx(sum(good) / len(good) - sum(bad) / len(bad))
    assert m["rewards/accuracies"] == pytest.approx(sum((r["reward"] > 0) == r["label"] for r in recs) / len(recs))
    assert 0.0 <= m["rewards/pair_accuracies"] <= 1.0 and m["answer_pairs"] == 4
    assert m["rewards/margins"] > 0  # 4 steps already separate polite answers from curt refusals
    # --sample and --batch-size: fewer rows, same per-row rewards
    small = _eval(run.last_checkpoint, tmp_path / "small.json", "--sample", "4", "--batch-size", "2")
    assert small["rows"] == 4
    assert [r["reward"] for r in small["records"]] == pytest.approx([r["reward"] for r in recs[:4]], abs=1e-5)


@pytest.mark.parametrize(("stage", "table"), [("orpo", {"beta": 0.1}), ("simpo", {"beta": 2.0, "gamma": 0.5}),
                                              ("cpo", {"beta": 0.1, "loss_type": "sigmoid"})])
def test_ftcore_eval_scores_reference_free_checkpoints(tmp_path: Path, stage: str, table: dict) -> None:  # type: ignore[type-arg]
    from ftcore.training import train

    run = train(config(tmp_path, stage, pairs(12), 2, **{stage: table}))
    logged = _final_eval(run)
    report = _eval(run.last_checkpoint, tmp_path / "report.json")
    m = report["metrics"]
    assert report["stage"] == stage and report["pairs"] == len(report["records"]) == 3
    for name in ("rewards/accuracies", "rewards/margins", "rewards/chosen", "rewards/rejected", "logps/chosen",
                 "logps/rejected"):
        assert m[name] == pytest.approx(logged[f"eval_{name}"], rel=1e-4, abs=1e-6), name
    # the stage's reward: beta × mean log-prob per answer token (orpo, simpo) or × the summed log-prob (cpo)
    if stage == "cpo":
        assert m["rewards/chosen"] == pytest.approx(table["beta"] * m["logps/chosen"], rel=1e-5)
    else:
        assert m["rewards/chosen"] != pytest.approx(table["beta"] * m["logps/chosen"], rel=1e-3)
    margins = [r["margin"] for r in report["records"]]
    assert m["rewards/accuracies"] == pytest.approx(sum(x > 0 for x in margins) / len(margins))
