"""ftcore.testing.check_plugin on a small local plugin: what it reports, and that it cleans up after itself."""

from __future__ import annotations

import pytest

import ftcore
from ftcore import ModelSpec
from ftcore.registry import get_catalog
from ftcore.testing import check_plugin


class LocalPlugin:
    """A plugin that is not installed: one good model, three with problems, one without a tiny stand-in."""

    @ftcore.hookimpl
    def register_models(self, register):
        common = dict(hub={"huggingface": "example/tiny"}, template="chatml", tags=["chat"])
        register(ModelSpec(name="conf-good", lora_targets=["q_proj", "v_proj"], **common))
        register(ModelSpec(name="conf-bad-targets", lora_targets=["W_pack"], **common))
        register(ModelSpec(name="conf-no-template", hub={"huggingface": "example/tiny"}, template="nope",
                           lora_targets=["q_proj"], tags=["chat"]))
        register(ModelSpec(name="conf-incomplete", hub={"huggingface": "example/tiny"}))
        register(ModelSpec(name="conf-untested", lora_targets=["q_proj"], **common))


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    return check_plugin(
        LocalPlugin(),
        tiny_models={"conf-good": "qwen2", "conf-bad-*": "qwen2", "conf-no-template": "qwen2"},
        train="none",
        work_dir=tmp_path_factory.mktemp("conformance"),
        raise_on_problems=False,
    )


def test_good_model_passes(report):
    good = report.model("conf-good")
    assert good.problems == [] and good.exercised == "targets"
    assert good.targets == ["q_proj", "v_proj"] and good.wrapped == 4  # two per layer of the 2-layer tiny qwen2


def test_problems_are_reported_per_model(report):
    problems = "\n".join(report.problems)
    assert "conf-bad-targets: LoRA target 'W_pack' matches no Linear layer" in problems
    assert "conf-no-template: template 'nope' is not registered" in problems
    assert "conf-incomplete: no default template" in problems
    assert "conf-incomplete: no default LoRA targets" in problems
    assert "conf-incomplete: tags name neither 'chat' nor 'base'" in problems
    assert report.not_exercised == ["conf-incomplete", "conf-untested"]
    assert "5 models" in report.summary()


def test_a_local_plugin_is_unregistered_afterwards(report):
    assert "conf-good" not in get_catalog().models


def test_raises_with_every_problem_listed(tmp_path):
    with pytest.raises(AssertionError, match="conf-incomplete: no default template"):
        check_plugin(LocalPlugin(), models=["conf-incomplete"], work_dir=tmp_path)


def test_unknown_plugin_name_is_a_problem():
    report = check_plugin("ftcore-no-such-plugin", raise_on_problems=False)
    assert report.problems == ["plugin 'ftcore-no-such-plugin' is not installed (ftcore plugins lists the installed ones)"]
