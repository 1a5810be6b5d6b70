"""RunConfig: seed coverage, defaults, ``--set``, and malformed run.toml files through ``ftcore validate``.

Every malformed case must give exactly one line, ``error: run.toml: <key>: <message>``, exit status 2 and no
traceback. The cases run through ``ftcore.cli.main`` in-process (the same code path as the console script); a
few run as real subprocesses too (exit status, no traceback, FTCORE_DEBUG=1).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ftcore import plugins
from ftcore.cli import main
from ftcore.config import (
    SEED_ARGUMENTS,
    RunConfig,
    config_from_dict,
    config_to_toml,
    json_schema,
    load_config,
    parse_override,
)
from ftcore.errors import ConfigError  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]

VALID = """\
[model]
name = "ftcore-tiny-qwen2"

[data]
datasets = ["self-cognition-mini"]
"""

#: (run.toml text, extra --set options, the one expected line on stderr)
MALFORMED: dict[str, tuple[str, list[str], str]] = {
    "bad-type-float": (
        VALID + '[train]\nlr = "fast"\n',
        [],
        "run.toml: train.lr: must be a number or 'auto' (got 'fast')",
    ),
    "bad-type-int": (
        VALID + "[train]\nbatch_size = 1.5\n",
        [],
        "run.toml: train.batch_size: must be a whole number (got 1.5)",
    ),
    "bad-type-bool": (
        VALID.replace("datasets", "group_by_length = 3\ndatasets"),
        [],
        "run.toml: data.group_by_length: must be true or false (got 3)",
    ),
    "bad-type-section": (
        'model = 5\n[data]\ndatasets = ["self-cognition-mini"]\n',
        [],
        "run.toml: model: must be a table (got 5)",
    ),
    "unknown-key-seed-name": (
        VALID + "[train]\nlearning_rate = 1e-4\n",
        [],
        "run.toml: train.learning_rate: unknown key (did you mean train.lr? 'learning_rate' is ms-swift's name for it)",
    ),
    "unknown-key-typo": (
        VALID + "[tuner]\nrnak = 8\n",
        [],
        "run.toml: tuner.rnak: unknown key (did you mean tuner.rank?)",
    ),
    "unknown-key-wrong-section": (
        VALID + "[train]\nrank = 8\n",
        [],
        "run.toml: train.rank: unknown key (did you mean tuner.rank?)",
    ),
    "unknown-section": (
        VALID + "[trainer]\nepochs = 2\n",
        [],
        "run.toml: trainer: unknown key (did you mean train?)",
    ),
    "unknown-key-in-dataset-table": (
        VALID.replace('["self-cognition-mini"]', '[{ pth = "faq.jsonl" }]'),
        [],
        "run.toml: data.datasets[0].pth: unknown key (did you mean data.datasets[0].path?)",
    ),
    "out-of-range-lr": (
        VALID + "[train]\nlr = -1\n",
        [],
        "run.toml: train.lr: must be > 0 or 'auto' (got -1)",
    ),
    "out-of-range-ratio": (
        VALID.replace("datasets", "test_ratio = 1.5\ndatasets"),
        [],
        "run.toml: data.test_ratio: must be < 1 (got 1.5)",
    ),
    "out-of-range-rank": (VALID + "[tuner]\nrank = 0\n", [], "run.toml: tuner.rank: must be >= 1 (got 0)"),
    "zero-max-length": (
        VALID + "[template]\nmax_length = 0\n",
        [],
        "run.toml: template.max_length: must be a positive number of tokens, or -1 for no limit",
    ),
    "bad-choice": (
        VALID + '[tuner]\nmethod = "qlora2"\n',
        [],
        "run.toml: tuner.method: unknown tuner 'qlora2' (did you mean qlora, lora, adalora? known: lora, qlora, "
        "full, adalora, ia3, vera, lokr, loha, oft, boft, freeze, llama-pro, galore; "
        "see: ftcore tuners)",
    ),
    "bad-targets": (
        VALID + '[tuner]\ntargets = "qkv"\n',
        [],
        "run.toml: tuner.targets: must be 'auto', 'all' or a list of module names (got 'qkv')",
    ),
    "quantization-with-full": (
        VALID.replace("[data]", "[model.quantization]\nbits = 4\n\n[data]") + '[tuner]\nmethod = "full"\n',
        [],
        "run.toml: tuner.method: full fine-tuning cannot train a quantized model "
        "(set model.quantization.bits = 0, or use method = 'qlora')",
    ),
    "deepspeed-with-device-map": (
        VALID.replace("[data]", 'device_map = "auto"\n\n[data]') + '[train]\ndeepspeed = "zero3"\n',
        [],
        "run.toml: train.deepspeed: DeepSpeed cannot be combined with model.device_map (model parallel); "
        "remove one of them",
    ),
    "deepspeed-unknown-preset": (
        VALID + '[train]\ndeepspeed = "zero4"\n',
        [],
        "run.toml: train.deepspeed: unknown preset 'zero4' (did you mean zero3? use zero2, zero3, zero2-offload, "
        "zero3-offload or a .json file)",
    ),
    "packing-with-group-by-length": (
        VALID.replace("datasets", "packing = true\ngroup_by_length = true\ndatasets"),
        [],
        "run.toml: data.group_by_length: has no effect with data.packing = true; set only one of them",
    ),
    "streaming-without-max-steps": (
        VALID.replace("datasets", "streaming = true\ndatasets"),
        [],
        "run.toml: data.streaming: a streamed dataset has no length; set train.max_steps > 0",
    ),
    "path-and-repo": (
        '[model]\npath = "./m"\nrepo = "Qwen/Qwen2.5-0.5B"\n[data]\ndatasets = ["self-cognition-mini"]\n',
        [],
        "run.toml: model.repo: give model.path (a local folder) or model.repo (a hub id), not both",
    ),
    "dataset-name-and-path": (
        VALID.replace('["self-cognition-mini"]', '[{ name = "self-cognition-mini", path = "faq.jsonl" }]'),
        [],
        "run.toml: data.datasets[0]: give exactly one of name, path or repo (got name, path)",
    ),
    "missing-data-file": (
        VALID.replace('"self-cognition-mini"', '"./faq.jsonl"'),
        [],
        "run.toml: data.datasets[0]: file ./faq.jsonl not found",
    ),
    "missing-model-folder": (
        VALID.replace('name = "ftcore-tiny-qwen2"', 'path = "./my-model"'),
        [],
        "run.toml: model.path: folder ./my-model not found",
    ),
    "missing-deepspeed-file": (
        VALID + '[train]\ndeepspeed = "ds/zero2.json"\n',
        [],
        "run.toml: train.deepspeed: file ds/zero2.json not found",
    ),
    "missing-plugin-file": (
        'plugins = ["./custom.py"]\n' + VALID,
        [],
        "run.toml: plugins[0]: plugin file ./custom.py not found (looked at {dir}/custom.py)",
    ),
    "missing-resume-checkpoint": (
        VALID + '[train]\nresume_from_checkpoint = "output/x/checkpoint-5"\n',
        [],
        'run.toml: train.resume_from_checkpoint: folder output/x/checkpoint-5 not found (or use "latest")',
    ),
    "unknown-model-name": (
        VALID.replace("ftcore-tiny-qwen2", "ftcore-tiny-qwen"),
        [],
        "run.toml: model.name: unknown model 'ftcore-tiny-qwen' (did you mean ftcore-tiny-qwen2?)",
    ),
    "unknown-dataset-name": (
        VALID.replace("self-cognition-mini", "self-cognition"),
        [],
        "run.toml: data.datasets[0]: unknown dataset 'self-cognition' (did you mean self-cognition-mini?)",
    ),
    "unknown-template-name": (
        VALID + '[template]\nname = "no-such-template"\n',
        [],
        "run.toml: template.name: unknown template 'no-such-template' (see: ftcore templates)",
    ),
    "no-model": (
        '[data]\ndatasets = ["self-cognition-mini"]\n',
        [],
        "run.toml: model: give name (see: ftcore models), path (a local folder) or repo (a hub id)",
    ),
    "no-datasets": (
        '[model]\nname = "ftcore-tiny-qwen2"\n',
        [],
        "run.toml: data.datasets: name at least one dataset (see: ftcore datasets) or a local file",
    ),
    "set-unknown-key": (
        VALID,
        ["train.lrr=1e-4"],
        "run.toml: train.lrr: unknown key (did you mean train.lr?)",
    ),
    "set-bad-value": (VALID, ["train.epochs=-2"], "run.toml: train.epochs: must be > 0 (got -2)"),
    "set-without-value": (VALID, ["train.lr"], "--set train.lr: expected section.key=value"),
}


@pytest.fixture
def builtins_only(monkeypatch: pytest.MonkeyPatch):
    """Only the built-in plugins: the cases must not depend on what else is installed."""
    monkeypatch.setenv(plugins.ENV_LOAD_PLUGINS, "")
    plugins.reset()
    yield
    plugins.reset()


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_run_toml_gives_one_line(case, builtins_only, tmp_path, monkeypatch, capsys):
    text, overrides, expected = MALFORMED[case]
    (tmp_path / "run.toml").write_text(text)
    monkeypatch.chdir(tmp_path)
    args = ["validate", "run.toml"] + [a for o in overrides for a in ("--set", o)]
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == ["error: " + expected.format(dir=tmp_path.resolve())]


def test_at_least_15_malformed_cases():
    assert len(MALFORMED) >= 15


def test_every_problem_of_a_file_at_once(builtins_only, tmp_path, monkeypatch, capsys):
    (tmp_path / "run.toml").write_text(
        textwrap.dedent(
            """\
            [model]
            name = "ftcore-tiny-qwen"
            [model.quantization]
            bits = 4
            [data]
            datasets = ["./faq.jsonl"]
            [tuner]
            method = "full"
            [train]
            lr = "fast"
            learning_rate = 1e-4
            """
        )
    )
    monkeypatch.chdir(tmp_path)
    assert main(["validate", "run.toml"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: run.toml: train.lr: must be a number or 'auto' (got 'fast')",
        "error: run.toml: train.learning_rate: unknown key (did you mean train.lr? "
        "'learning_rate' is ms-swift's name for it)",
        # cross-key problems of the valid rest are found in the same pass
        "error: run.toml: tuner.method: full fine-tuning cannot train a quantized model "
        "(set model.quantization.bits = 0, or use method = 'qlora')",
        # and the names and files too, although some values are invalid (issue 14)
        "error: run.toml: model.name: unknown model 'ftcore-tiny-qwen' (did you mean ftcore-tiny-qwen2?)",
        "error: run.toml: data.datasets[0]: file ./faq.jsonl not found",
    ]
    (tmp_path / "run.toml").write_text(
        '[model]\nname = "ftcore-tiny-qwen"\n[data]\ndatasets = ["./faq.jsonl", "nope"]\n'
    )
    assert main(["validate", "run.toml"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: run.toml: model.name: unknown model 'ftcore-tiny-qwen' (did you mean ftcore-tiny-qwen2?)",
        "error: run.toml: data.datasets[0]: file ./faq.jsonl not found",
        "error: run.toml: data.datasets[1]: unknown dataset 'nope' (see: ftcore datasets)",
    ]


def test_not_toml_and_not_found(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["validate", "missing.toml"]) == 2
    assert capsys.readouterr().err == "error: missing.toml: file not found\n"
    (tmp_path / "run.toml").write_text("[model\nname = 1\n")
    assert main(["validate", "run.toml"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: run.toml: not valid TOML: ") and "line 1" in line


def test_valid_file_through_a_real_subprocess(tmp_path):
    (tmp_path / "run.toml").write_text(VALID)
    env = {**os.environ, "FTCORE_LOAD_PLUGINS": ""}
    env.pop("FTCORE_DEBUG", None)
    ok = subprocess.run(
        [sys.executable, "-m", "ftcore", "validate", "run.toml"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "run.toml: ok\n", "")


def test_error_without_traceback_unless_ftcore_debug(tmp_path):
    (tmp_path / "run.toml").write_text(VALID + "[train]\nlr = -1\n")
    env = {**os.environ, "FTCORE_LOAD_PLUGINS": ""}
    env.pop("FTCORE_DEBUG", None)
    cmd = [sys.executable, "-m", "ftcore", "validate", "run.toml"]
    plain = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert plain.returncode == 2
    assert plain.stderr == "error: run.toml: train.lr: must be > 0 or 'auto' (got -1)\n"
    debug = subprocess.run(
        cmd, cwd=tmp_path, env={**env, "FTCORE_DEBUG": "1"}, capture_output=True, text=True
    )
    assert debug.returncode != 0
    assert "Traceback (most recent call last)" in debug.stderr and "ConfigError" in debug.stderr


# ---------------------------------------------------------------------------------------------------------
# Seed coverage and defaults

#: every field of ms-swift's SftArguments and InferArguments
SEED_SFT = """model_type model_id_or_path model_revision model_cache_dir sft_type tuner_backend template_type output_dir
add_output_dir_suffix ddp_backend seed resume_from_checkpoint dtype dataset dataset_seed dataset_test_ratio
train_dataset_sample system max_length quantization_bit bnb_4bit_comp_dtype bnb_4bit_quant_type
bnb_4bit_use_double_quant lora_target_modules lora_rank lora_alpha lora_dropout_p gradient_checkpointing
deepspeed_config_path batch_size eval_batch_size num_train_epochs max_steps optim learning_rate weight_decay
gradient_accumulation_steps max_grad_norm predict_with_generate lr_scheduler_type warmup_ratio eval_steps save_steps
only_save_model save_total_limit logging_steps dataloader_num_workers push_to_hub hub_model_id hub_private_repo
push_hub_strategy hub_token test_oom_error use_flash_attn ignore_args_error logging_dir max_new_tokens do_sample
temperature top_k top_p repetition_penalty""".split()
SEED_INFER = """model_type model_id_or_path model_revision sft_type template_type ckpt_dir eval_human seed dtype dataset
dataset_seed dataset_test_ratio show_dataset_sample system max_length quantization_bit bnb_4bit_comp_dtype
bnb_4bit_quant_type bnb_4bit_use_double_quant max_new_tokens do_sample temperature top_k top_p repetition_penalty
use_flash_attn ignore_args_error stream merge_lora_and_save overwrite_generation_config""".split()

#: seed defaults ftcore keeps as they are (key -> seed default)
SEED_DEFAULTS = {
    "output.dir": "output",
    "output.add_suffix": True,
    "train.seed": 42,
    "data.seed": 42,
    "data.test_ratio": 0.01,
    "data.sample": 20000,
    "template.max_length": 2048,
    "model.quantization.bits": 0,
    "model.quantization.quant_type": "nf4",
    "model.quantization.double_quant": True,
    "tuner.rank": 8,
    "tuner.alpha": 32,
    "tuner.dropout": 0.05,
    "train.gradient_checkpointing": False,
    "train.batch_size": 1,
    "train.eval_batch_size": None,
    "train.epochs": 1,
    "train.max_steps": -1,
    "train.optim": "adamw_torch",
    "train.weight_decay": 0.01,
    "train.grad_accum": 16,
    "train.max_grad_norm": 1.0,
    "eval.predict_with_generate": False,
    "train.scheduler": "cosine",
    "train.warmup_ratio": 0.05,
    "train.eval_steps": 50,
    "train.save_steps": None,
    "train.only_save_model": None,
    "train.save_total_limit": 2,
    "train.logging_steps": 5,
    "train.dataloader_num_workers": 1,
    "hub.push": False,
    "hub.model_id": None,
    "hub.private": True,
    "hub.strategy": "push_best",
    "hub.token": None,
    "train.test_oom_error": False,
    "output.logging_dir": None,
    "generation.max_new_tokens": 2048,
    "generation.do_sample": True,
    "generation.temperature": 0.9,
    "generation.top_k": 20,
    "generation.top_p": 0.9,
    "generation.repetition_penalty": 1.05,
    "infer.interactive": False,
    "infer.show_samples": 10,
    "infer.stream": True,
    "infer.merge_lora": False,
    "eval.overwrite_generation_config": False,
}


def _get(cfg: RunConfig, key: str):  # type: ignore[no-untyped-def]
    value = cfg
    for part in key.split("."):
        value = getattr(value, part)
    return value


def test_every_seed_argument_has_a_place():
    assert sorted(SEED_ARGUMENTS) == sorted(set(SEED_SFT) | set(SEED_INFER))
    cfg = RunConfig()
    for key in SEED_ARGUMENTS.values():
        if key is not None:
            _get(cfg, key)  # exists


def test_seed_defaults_are_kept():
    cfg = RunConfig()
    assert {key: _get(cfg, key) for key in SEED_DEFAULTS} == SEED_DEFAULTS


def test_docs_config_md_covers_every_seed_argument_and_key():
    doc = (ROOT / "docs" / "config.md").read_text()
    for arg, key in SEED_ARGUMENTS.items():
        assert f"`{arg}`" in doc, arg
        if key is not None:
            assert f"`{key}`" in doc, key
    keys = {p for paths in _key_paths().values() for p in paths}
    leaves = {k for k in keys if not any(other.startswith(f"{k}.") for other in keys)}
    assert len(leaves) > 80
    for key in sorted(leaves):
        assert f"`{key}`" in doc, f"docs/config.md does not describe {key}"


def _key_paths():  # type: ignore[no-untyped-def]
    from ftcore.config import all_key_paths

    return all_key_paths()


def test_seed_spellings_are_accepted():
    cfg = config_from_dict(
        {
            "model": "ftcore-tiny-qwen2",  # short form
            "data": {"datasets": "alpaca-en,alpaca-zh"},  # ms-swift's comma list
            "tuner": {"targets": ["ALL"]},
        }
    )
    assert cfg.model.name == "ftcore-tiny-qwen2"
    assert cfg.data.datasets == ["alpaca-en", "alpaca-zh"]
    assert cfg.tuner.targets == "all"
    assert config_from_dict({"tuner": {"targets": "AUTO"}}).tuner.targets == "auto"


def test_qlora_means_4_bit():
    from ftcore.training.resolved import resolve_run

    assert resolve_run(config_from_dict({"tuner": {"method": "qlora"}})).quantization_bits == 4
    assert resolve_run(
        config_from_dict({"tuner": {"method": "qlora"}, "model": {"quantization": {"bits": 8}}})
    ).quantization_bits == 8


def test_name_with_path_is_the_seed_model_cache_dir():
    cfg = config_from_dict({"model": {"name": "qwen-7b-chat", "path": "/models/qwen-7b-chat"}})
    assert (cfg.model.name, cfg.model.path) == ("qwen-7b-chat", "/models/qwen-7b-chat")


@pytest.mark.parametrize(
    ("text", "path", "value"),
    [
        ("train.lr=1e-4", ["train", "lr"], 1e-4),
        ("train.epochs=3", ["train", "epochs"], 3),
        ("data.packing=true", ["data", "packing"], True),
        ('data.datasets=["a", "b"]', ["data", "datasets"], ["a", "b"]),
        ("output.dir=output/demo", ["output", "dir"], "output/demo"),  # not TOML: taken as a string
        ("model.quantization.bits=4", ["model", "quantization", "bits"], 4),
    ],
)
def test_parse_override(text, path, value):
    assert parse_override(text) == (path, value)


def test_set_overrides_the_file(tmp_path):
    (tmp_path / "run.toml").write_text(VALID + "[train]\nlr = 2e-4\n")
    cfg = load_config(tmp_path / "run.toml", ["train.lr=1e-5", "tuner.rank=16", "data.datasets=a,b"])
    assert (cfg.train.lr, cfg.tuner.rank, cfg.data.datasets) == (1e-5, 16, ["a", "b"])
    assert cfg.base_dir == str(tmp_path.resolve()) and cfg.source == str(tmp_path / "run.toml")
    assert cfg.resolve_path("faq.jsonl") == str(tmp_path.resolve() / "faq.jsonl")


def test_config_to_toml_round_trip(tmp_path):
    cfg = config_from_dict(
        {
            "model": {"name": "ftcore-tiny-qwen2"},
            "data": {"datasets": ["a", {"path": "faq.csv", "columns": {"question": "query"}}]},
            "train": {"lr": 3e-4},
        }
    )
    (tmp_path / "run.toml").write_text(config_to_toml(cfg))
    assert load_config(tmp_path / "run.toml").model_dump() == cfg.model_dump()


def test_json_schema_for_editors():
    schema = json_schema()
    assert schema["title"] == "ftcore run.toml"
    assert {
        "model",
        "template",
        "data",
        "tuner",
        "train",
        "generation",
        "eval",
        "output",
        "hub",
        "infer",
        "plugins",
        *("dpo", "kto", "orpo", "simpo", "cpo", "rm"),  # the built-in stages' option tables
    } == set(schema["properties"])
    assert schema["additionalProperties"] == {"type": "object"}  # a plugin stage's [table]


def test_config_error_lists_problems():
    with pytest.raises(ConfigError) as info:
        config_from_dict({"train": {"lr": 0, "epochs": 0}}, source="a.toml")
    assert info.value.problems == [
        "a.toml: train.epochs: must be > 0 (got 0)",
        "a.toml: train.lr: must be > 0 or 'auto' (got 0)",
    ] or info.value.problems == [
        "a.toml: train.lr: must be > 0 or 'auto' (got 0)",
        "a.toml: train.epochs: must be > 0 (got 0)",
    ]


def test_hub_token_is_never_written_or_shown():
    cfg = config_from_dict({"hub": {"push": True, "token": "ms-secret-123"}})
    assert cfg.hub.token == "ms-secret-123"  # usable by the push code
    assert "ms-secret-123" not in config_to_toml(cfg)
    assert "ms-secret-123" not in repr(cfg) and "ms-secret-123" not in str(cfg.model_dump(mode="json"))


def test_docs_config_md_defaults_match_the_code():
    """The "Every key" table of docs/config.md shows each key's real default."""
    import json
    import re

    from pydantic import BaseModel

    def shown(value):  # type: ignore[no-untyped-def]
        if value is None:
            return "—"
        if isinstance(value, bool):
            return "`true`" if value else "`false`"
        if isinstance(value, str):
            return f'`"{value}"`'
        return f"`{json.dumps(value)}`"

    def leaves(model, prefix):  # type: ignore[no-untyped-def]
        for name, field in model.model_fields.items():
            if name in ("base_dir", "source"):
                continue
            if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
                yield from leaves(field.annotation, f"{prefix}{name}.")
            else:
                yield f"{prefix}{name}", field.get_default(call_default_factory=True)

    doc = (ROOT / "docs" / "config.md").read_text()
    wrong = {}
    for key, default in leaves(RunConfig, ""):
        row = re.search(rf"^\| `{re.escape(key)}` \| (.*?) \|", doc, re.M)
        if row is None or row.group(1) != shown(default):
            wrong[key] = (row.group(1) if row else None, shown(default))
    assert wrong == {}, f"docs/config.md defaults differ (doc, code): {wrong}"
