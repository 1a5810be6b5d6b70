"""The tuner table check: every registered tuning method trains a tiny model, saves, reloads with plain peft (or
plain transformers for methods that save whole models) with equal logits, answers, and merges where it can.

    from ftcore.testing.tuners import TUNER_CASES, exercise_tuner
    check = exercise_tuner("dora", "ftcore-tiny-qwen2", model_dir, tmp_path)
    assert not check.problems, check.problems

:data:`TUNER_CASES` holds one case per method, and one per LoRA variant (DoRA, rsLoRA, PiSSA, OLoRA, LoRA+,
NEFTune …). ``check_plugin(..., tuners="all")`` runs them on a plugin's tiny models; tests/tuners runs them on
ftcore's own tiny model.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["SLOW_CASES", "TUNER_CASES", "TunerCheck", "check_tuners", "exercise_tuner"]

#: case name -> the run's ``[tuner]`` table and ``[train]`` keys it adds
TUNER_CASES: dict[str, dict[str, Any]] = {
    "lora": {"tuner": {"method": "lora"}},
    "dora": {"tuner": {"method": "lora", "use_dora": True}},
    "rslora-patterns": {"tuner": {"method": "lora", "use_rslora": True, "layers_to_transform": [1],
                                  "rank_pattern": {"q_proj": 2}, "alpha_pattern": {"q_proj": 16}}},
    "pissa": {"tuner": {"method": "lora", "init": "pissa"}},
    "pissa-niter": {"tuner": {"method": "lora", "init": "pissa_niter_4"}},
    "olora": {"tuner": {"method": "lora", "init": "olora"}},
    "eva": {"tuner": {"method": "lora", "init": "eva"}},
    "corda": {"tuner": {"method": "lora", "init": "corda"}},
    "lora-plus": {"tuner": {"method": "lora", "lora_plus_ratio": 4}},
    "neftune": {"tuner": {"method": "lora"}, "train": {"neftune_alpha": 5.0}},
    "adalora": {"tuner": {"method": "adalora", "init_r": 6, "target_r": 4, "tinit": 1, "tfinal": 1}},
    "ia3": {"tuner": {"method": "ia3"}, "train": {"lr": 3e-2}},
    "vera": {"tuner": {"method": "vera", "vera_rank": 16}, "train": {"lr": 3e-2}},
    "lokr": {"tuner": {"method": "lokr"}},
    "loha": {"tuner": {"method": "loha"}},
    "oft": {"tuner": {"method": "oft", "oft_block_size": 16}},
    "boft": {"tuner": {"method": "boft", "boft_block_size": 4}},
    "freeze": {"tuner": {"method": "freeze", "last_layers": 1, "modules": ["norm"]}, "train": {"lr": 2e-3}},
    "llama-pro": {"tuner": {"method": "llama-pro", "new_blocks": 1}, "train": {"lr": 2e-3}},
    "galore": {"tuner": {"method": "galore", "targets": "all", "galore_rank": 4, "update_proj_gap": 2},
               "train": {"lr": 2e-3}},
}
#: the cases pytest marks slow (they still run in CI): the ones a plain LoRA case already covers most of
SLOW_CASES = frozenset({"pissa-niter", "olora", "eva", "corda", "rslora-patterns", "loha", "boft", "llama-pro", "neftune"})

_ROWS = [{"query": f"What is {i} plus one?", "response": f"{i} plus one is {i + 1}."} for i in range(8)]


@dataclasses.dataclass
class TunerCheck:
    """What :func:`exercise_tuner` found for one case."""

    case: str
    method: str
    losses: list[float] = dataclasses.field(default_factory=list)
    checkpoint: str | None = None
    #: largest |logit| difference: trained model vs the checkpoint reloaded with plain peft / transformers
    reload_diff: float | None = None
    #: largest |logit| difference: merged model vs adapter (None: the method does not merge)
    merge_diff: float | None = None
    answer: str | None = None
    #: peft's adapter type of the checkpoint ("LORA" …), None for whole-model checkpoints
    peft_type: str | None = None
    problems: list[str] = dataclasses.field(default_factory=list)


def _logits(model: Any, ids: Any) -> Any:
    import torch

    model.eval()
    with torch.no_grad():
        return model(input_ids=ids).logits.float()


def exercise_tuner(case: str, model_name: str, model_dir: str, work: str | Path, *, steps: int = 6,
                   tol: float = 1e-4) -> TunerCheck:
    """Train ``model_name`` (its catalog spec pointed at the tiny ``model_dir``) with the case's method, then
    check the checkpoint as the module docstring says; every failure is a line in ``problems``."""
    import torch
    from transformers import AutoModelForCausalLM

    import ftcore
    from ftcore.registry import get_catalog

    setting = TUNER_CASES[case]
    work = Path(work) / case
    work.mkdir(parents=True, exist_ok=True)
    data = work / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in _ROWS), encoding="utf-8")
    tuner = {"rank": 4, "alpha": 8, "dropout": 0.0, **setting["tuner"]}
    method = tuner["method"]
    spec = get_catalog().tuners.get(method)
    check = TunerCheck(case=case, method=method)
    train = {"max_steps": steps, "batch_size": 4, "grad_accum": 1, "lr": 1e-2, "logging_steps": 1,
             "eval_steps": steps, "save_steps": steps, "report_to": [], "dataloader_num_workers": 0,
             "warmup_ratio": 0.0, "scheduler": "constant", **setting.get("train", {})}
    catalog_spec = get_catalog().models.get(model_name)
    saved_path = catalog_spec.path
    catalog_spec.path = model_dir
    try:
        result = ftcore.train({
            "model": {"name": model_name, "dtype": "fp32"}, "template": {"max_length": 48},
            "data": {"datasets": [{"path": str(data)}], "test_ratio": 0.0, "packing": False, "sample": -1},
            "tuner": tuner, "train": train, "output": {"dir": str(work / "out")},
        })
        records = [json.loads(x) for x in Path(result.output_dir, "metrics.jsonl").read_text().splitlines()]
        check.losses = [r["loss"] for r in records if "loss" in r]
        if not check.losses or not all(math.isfinite(x) for x in check.losses):
            check.problems.append(f"losses not finite: {check.losses}")
        elif min(check.losses[-2:]) >= check.losses[0]:
            check.problems.append(f"the loss did not fall: {check.losses}")
        check.checkpoint = result.last_checkpoint
        if not check.checkpoint:
            check.problems.append("no checkpoint written")
            return check
        ckpt = Path(check.checkpoint)
        ids = torch.tensor([[1, 5, 9, 14, 20, 33, 7, 2]])
        trained = _logits(result.model, ids)
        if (ckpt / "adapter_config.json").is_file():
            from peft import PeftConfig, PeftModel

            check.peft_type = str(PeftConfig.from_pretrained(str(ckpt)).peft_type.value)
            base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
            reloaded = PeftModel.from_pretrained(base, str(ckpt))
            adapter_logits = _logits(reloaded, ids)
            check.reload_diff = float((adapter_logits - trained).abs().max())
            if spec.supports_merge:
                merged_logits = _logits(reloaded.merge_and_unload(), ids)
                check.merge_diff = float((merged_logits - adapter_logits).abs().max())
        else:
            whole = AutoModelForCausalLM.from_pretrained(str(ckpt), dtype=torch.float32)
            check.reload_diff = float((_logits(whole, ids) - trained).abs().max())
        if check.reload_diff is not None and check.reload_diff > tol:
            check.problems.append(f"reloaded logits differ by {check.reload_diff:.2e}")
        if check.merge_diff is not None and check.merge_diff > tol:
            check.problems.append(f"merged logits differ from the adapter's by {check.merge_diff:.2e}")
        answer = ftcore.infer(str(ckpt), "What is 2 plus one?", max_new_tokens=4, do_sample=False)
        check.answer = answer if isinstance(answer, str) else None
        if check.answer is None:
            check.problems.append(f"infer returned {type(answer).__name__}, not text")
    except Exception as exc:  # noqa: BLE001 - reported with the case's name
        check.problems.append(f"{type(exc).__name__}: {exc}")
    finally:
        catalog_spec.path = saved_path
    return check


def check_tuners(model_name: str, model_dir: str, work: str | Path, cases: str | Iterable[str] = "all") -> list[str]:
    """Run the tuner table's ``cases`` (``"all"`` or names) on ``model_name``; the problems, each prefixed with
    ``tuner <case>: `` (the conformance kit's ``tuners`` option)."""
    names = list(TUNER_CASES) if cases == "all" else [cases] if isinstance(cases, str) else list(cases)
    out = [f"tuner {n}: no such case (known: {', '.join(TUNER_CASES)})" for n in names if n not in TUNER_CASES]
    for name in (n for n in names if n in TUNER_CASES):
        out.extend(f"tuner {name}: {p}" for p in exercise_tuner(name, model_name, model_dir, work).problems)
    return out
