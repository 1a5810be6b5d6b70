"""The tuner table: every registered method (and each LoRA variant) trains the tiny model (the loss falls), saves,
reloads with plain peft / transformers with equal logits, answers through ftcore.infer, and merges where the
method supports it (merged logits = adapter logits). PiSSA / OLoRA checkpoints load as plain LoRA on the original
base. The runner is ftcore.testing.tuners (the conformance kit's ``tuners="all"`` runs the same cases)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ftcore.registry import get_catalog
from ftcore.testing import build_tiny_model_dir
from ftcore.testing.tuners import SLOW_CASES, TUNER_CASES, exercise_tuner

PEFT_TYPES = {"lora": "LORA", "adalora": "ADALORA", "ia3": "IA3", "vera": "VERA", "lokr": "LOKR", "loha": "LOHA",
              "oft": "OFT", "boft": "BOFT"}


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return build_tiny_model_dir(tmp_path_factory.mktemp("tiny-tuners"), arch="qwen2")


def test_every_builtin_method_has_a_case() -> None:
    methods = {case["tuner"]["method"] for case in TUNER_CASES.values()}
    builtin = {s.name for s in get_catalog().tuners.specs.values() if s.plugin.startswith("ftcore ")}
    assert builtin - {"qlora", "full"} <= methods  # qlora needs a GPU (bitsandbytes); full: tests/training


@pytest.mark.parametrize(
    "case", [pytest.param(c, marks=pytest.mark.slow) if c in SLOW_CASES else c for c in TUNER_CASES])
def test_method_trains_saves_reloads_infers_and_merges(case: str, tiny_dir: str, tmp_path: Path) -> None:
    check = exercise_tuner(case, "ftcore-tiny-qwen2", tiny_dir, tmp_path)
    assert check.problems == [], check.problems
    assert check.losses[-1] < check.losses[0]
    assert check.reload_diff is not None and check.reload_diff <= 1e-4
    assert isinstance(check.answer, str)
    spec = get_catalog().tuners.get(check.method)
    assert (check.merge_diff is not None) == spec.supports_merge
    assert check.peft_type == PEFT_TYPES.get(check.method)
    assert check.checkpoint is not None
    ckpt = Path(check.checkpoint)
    if case.startswith(("pissa", "olora", "corda")):
        # saved converted: plain LoRA (init True) of twice the rank on the original base
        adapter = json.loads((ckpt / "adapter_config.json").read_text())
        assert adapter["init_lora_weights"] is True and adapter["r"] == 2 * 4
    if case == "adalora":  # the ranks were reallocated (peft's update_and_allocate ran after optimizer steps)
        masks = json.loads((ckpt / "adapter_config.json").read_text())["rank_pattern"]
        assert masks and not all(all(m) for m in masks.values())
    if case == "llama-pro":
        assert json.loads((ckpt / "config.json").read_text())["num_hidden_layers"] == 3
    if case in ("freeze", "galore", "llama-pro"):
        assert (ckpt / "model.safetensors").is_file() and not (ckpt / "adapter_config.json").exists()


class _OneModelPlugin:
    """A plugin (not installed) with one chat model, run through the conformance kit with its tuner table."""

    @staticmethod
    def _spec():  # type: ignore[no-untyped-def]
        from ftcore import ModelSpec

        return ModelSpec(name="tuners-conf-model", hub={"huggingface": "example/tiny"}, template="chatml",
                         lora_targets=["q_proj", "v_proj"], tags=["chat"])


def _hooked_plugin():  # type: ignore[no-untyped-def]
    import ftcore

    class Plugin(_OneModelPlugin):
        @ftcore.hookimpl
        def register_models(self, register):  # type: ignore[no-untyped-def]
            register(self._spec())

    return Plugin()


@pytest.mark.slow
def test_conformance_kit_runs_the_tuner_table(tmp_path: Path) -> None:
    from ftcore.testing import check_plugin

    report = check_plugin(_hooked_plugin(), tiny_models={"tuners-conf-model": "qwen2"}, train="all",
                          work_dir=tmp_path, tuners=["dora", "ia3", "freeze"], raise_on_problems=False)
    assert report.problems == []
    assert report.trained == ["tuners-conf-model"]
    assert sorted(p.name for p in (tmp_path / "tuners").iterdir()) == ["dora", "freeze", "ia3"]
    bad = check_plugin(_hooked_plugin(), tiny_models={"tuners-conf-model": "qwen2"}, train="all",
                       work_dir=tmp_path / "again", tuners=["no-such-case"], raise_on_problems=False)
    assert bad.problems == ["tuners-conf-model: tuner no-such-case: no such case (known: "
                            + ", ".join(TUNER_CASES) + ")"]
