"""``train.report_to`` without training: the trackers' offline defaults (set only where the user has not), the
Trainer's integration names, validation of missing packages (naming the extra), the config logged to each tracker
(redacted), and that no module but training/environment.py writes ``os.environ``."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from ftcore.preflight import TRACKER_EXTRAS, report_to_problems
from ftcore.training.environment import configure_tracker_environment, tracker_environment_for
from ftcore.training.trackers import TRACKERS, TrackerConfigCallback, trainer_integrations

SRC = Path(__file__).resolve().parents[3] / "src" / "ftcore"
TRACKER_VARIABLES = ("WANDB_MODE", "WANDB_DIR", "WANDB_PROJECT", "MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME",
                     "MLFLOW_ALLOW_FILE_STORE", "SWANLAB_MODE", "SWANLAB_LOG_DIR", "TRACKIO_DIR")


def test_offline_defaults_point_into_the_run_folder(tmp_path: Path) -> None:
    run = tmp_path / "v0-run"
    env = tracker_environment_for(list(TRACKERS), run, environ={})
    assert env == {
        "WANDB_MODE": "offline", "WANDB_DIR": str(run), "WANDB_PROJECT": "ftcore",
        "MLFLOW_TRACKING_URI": (run / "mlruns").as_uri(), "MLFLOW_EXPERIMENT_NAME": "ftcore",
        "MLFLOW_ALLOW_FILE_STORE": "true",
        "SWANLAB_MODE": "offline", "SWANLAB_LOG_DIR": str(run / "swanlog"),
        "TRACKIO_DIR": str(run / "trackio"),
    }
    assert tracker_environment_for(["tensorboard", "aim"], run, environ={}) == {}  # arguments, not variables
    assert tracker_environment_for([], run, environ={}) == {}
    assert tracker_environment_for(["none"], run, environ={}) == {}


def test_the_users_own_settings_win(tmp_path: Path) -> None:
    user = {"WANDB_MODE": "online", "MLFLOW_TRACKING_URI": "http://127.0.0.1:5000", "SWANLAB_MODE": "cloud",
            "TRACKIO_DIR": "/data/trackio"}
    env = tracker_environment_for(["wandb", "mlflow", "swanlab", "trackio"], tmp_path, environ=user)
    assert "WANDB_MODE" not in env and env["WANDB_DIR"] == str(tmp_path)
    assert "MLFLOW_TRACKING_URI" not in env and "MLFLOW_ALLOW_FILE_STORE" not in env  # a server: no file store
    assert "SWANLAB_MODE" not in env and "TRACKIO_DIR" not in env
    environ: dict[str, str] = dict(user)
    cfg = _cfg(["wandb"])
    written = configure_tracker_environment(cfg, tmp_path, environ)
    assert environ["WANDB_MODE"] == "online" and environ["WANDB_DIR"] == written["WANDB_DIR"] == str(tmp_path)


def test_a_later_run_in_the_same_process_gets_its_own_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    for var in TRACKER_VARIABLES:
        monkeypatch.delenv(var, raising=False)  # and put back (or removed again) after the test
    cfg = _cfg(["wandb", "mlflow"])
    configure_tracker_environment(cfg, tmp_path / "v0")
    assert os.environ["WANDB_DIR"] == str((tmp_path / "v0").resolve())
    configure_tracker_environment(cfg, tmp_path / "v1")  # ftcore's own earlier value is not the user's
    assert os.environ["WANDB_DIR"] == str((tmp_path / "v1").resolve())
    assert os.environ["MLFLOW_TRACKING_URI"] == (tmp_path / "v1" / "mlruns").resolve().as_uri()
    monkeypatch.setenv("WANDB_DIR", "/users/choice")
    configure_tracker_environment(cfg, tmp_path / "v2")
    assert os.environ["WANDB_DIR"] == "/users/choice"


def test_trainer_gets_its_own_integrations_only() -> None:
    assert trainer_integrations(["tensorboard", "wandb", "aim", "mlflow", "wandb"]) == ["wandb", "mlflow"]
    assert trainer_integrations(["none"]) == [] and trainer_integrations([]) == []
    assert trainer_integrations(["swanlab", "trackio"]) == ["swanlab", "trackio"]


def test_every_tracker_name_is_a_transformers_integration_or_added_by_ftcore() -> None:
    from transformers.integrations.integration_utils import INTEGRATION_TO_CALLBACK

    assert set(TRACKERS) == set(TRACKER_EXTRAS)
    assert set(trainer_integrations(list(TRACKERS))) <= set(INTEGRATION_TO_CALLBACK)


def test_training_arguments_name_the_run(tmp_path: Path) -> None:
    from ftcore.training.arguments import training_arguments
    from ftcore.training.resolved import resolve_run

    run_dir = tmp_path / "v3-20261130-120000"
    args = training_arguments(resolve_run(_cfg(["tensorboard", "wandb", "aim"])), run_dir, has_eval=False)
    assert args.report_to == ["wandb"] and args.run_name == "v3-20261130-120000" and args.project == "ftcore"
    assert training_arguments(resolve_run(_cfg(["none"])), run_dir, has_eval=False).report_to == []


# ----------------------------------------------------------------------------------------------- validation


def test_a_missing_tracker_names_its_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import ftcore.preflight as preflight

    monkeypatch.setattr(preflight, "module_installed", lambda name: False)
    problems = report_to_problems(["wandb", "aim", "comet_ml"])
    assert problems == [
        "'wandb' is not installed; pip install \"ftcore[wandb]\", or remove it from report_to",
        "'aim' is not installed; pip install \"ftcore[aim]\", or remove it from report_to",
        "'comet_ml' is not installed; pip install comet_ml, or remove it from report_to",
    ]
    monkeypatch.setattr(preflight, "module_installed", lambda name: True)
    assert report_to_problems(list(TRACKERS)) == [] and report_to_problems(["none"]) == []
    assert report_to_problems(["none", "wandb"]) == ['"none" turns every tracker off; use ["none"] alone (or [])']
    assert "unknown integration 'wandbb'" in report_to_problems(["wandbb"])[0]


def test_validate_reports_a_missing_tracker_on_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ftcore.preflight as preflight
    from ftcore.validation import check_environment

    monkeypatch.setattr(preflight, "module_installed", lambda name: name != "swanlab")
    cfg = _cfg(["tensorboard", "swanlab"], out=tmp_path / "out")
    lines = [p for p in _problems(check_environment, cfg) if "report_to" in p]
    assert lines == [f"{cfg.source}: train.report_to: 'swanlab' is not installed; pip install \"ftcore[swanlab]\", "
                     "or remove it from report_to"]


def test_extras_declare_every_tracker() -> None:
    import tomllib

    pyproject = tomllib.loads((SRC.parents[1] / "pyproject.toml").read_text())
    extras = pyproject["project"]["optional-dependencies"]
    for name in TRACKERS:
        assert extras[name], name


# ---------------------------------------------------------------------------------------- the logged config


class _Writer:
    def __init__(self) -> None:
        self.texts: dict[str, str] = {}

    def add_text(self, tag: str, text: str) -> None:
        self.texts[tag] = text

    def flush(self) -> None:
        pass


def test_config_reaches_tensorboard_redacted() -> None:
    tensorboard = type("TB", (), {"tb_writer": _Writer()})()
    callback = TrackerConfigCallback(["tensorboard"], {"train": {"lr": 0.1}, "hub": {"api_key": "sk-12345678"},
                                                       "data": {"password": "hunter22"}}, tensorboard=tensorboard)
    state = type("S", (), {"is_world_process_zero": True})()
    callback.on_train_begin(None, state, None)
    text = tensorboard.tb_writer.texts["ftcore"]
    assert '"lr": 0.1' in text and "sk-12345678" not in text and "hunter22" not in text and '"***"' in text


def test_command_line_is_redacted_while_trackers_record_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from ftcore.training.trackers import TrackerStartCallback, restore_command_line

    argv = ["ftcore", "train", "run.toml", "--set", "hub.token=hf_abcdefgh", "--hub-token", "hf_zyxwvuts"]
    monkeypatch.setattr(sys, "argv", list(argv))
    start = TrackerStartCallback(["wandb"])
    state = type("S", (), {"is_world_process_zero": True})()
    start.on_train_begin(None, state, None)
    assert sys.argv == ["ftcore", "train", "run.toml", "--set", "hub.token=***", "--hub-token", "***"]
    trainer = type("T", (), {"callback_handler": type("H", (), {"callbacks": [object(), start]})()})()
    restore_command_line(trainer)  # what the recipe does when training ends, or fails
    assert sys.argv == argv
    restore_command_line(trainer)
    assert sys.argv == argv


def test_trackio_imported_earlier_is_said(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import sys
    import types

    from ftcore.training.trackers import trackio_folder_note

    monkeypatch.setitem(sys.modules, "trackio.utils", types.SimpleNamespace(TRACKIO_DIR=tmp_path / "first"))
    note = trackio_folder_note(str(tmp_path / "second"))
    assert note and f"writes to {tmp_path / 'first'}, not {tmp_path / 'second'}" in note
    assert trackio_folder_note(str(tmp_path / "first")) is None and trackio_folder_note(None) is None


def test_mlflow_params_are_flat_and_short() -> None:
    from ftcore.training.trackers import _flat

    flat = _flat({"ftcore": {"train": {"lr": 0.1, "report_to": ["mlflow"]}, "model": {"name": "m"}}})
    assert flat == {"ftcore.train.lr": 0.1, "ftcore.train.report_to": '["mlflow"]', "ftcore.model.name": "m"}


# ------------------------------------------------------------------------------------------------ os.environ

_WRITES = re.compile(r"environ\[[^\]]+\]\s*=(?!=)|environ\.(?:update|setdefault|pop)\(|putenv\(|del\s+os\.environ")


def test_only_training_environment_writes_os_environ() -> None:
    allowed = {SRC / "training" / "environment.py", SRC / "testing" / "pytest_plugin.py"}  # the test session's
    offenders = [f"{path.relative_to(SRC)}:{n}" for path in SRC.rglob("*.py") if path not in allowed
                 for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if _WRITES.search(line)]
    assert offenders == []


# ---------------------------------------------------------------------------------------------------- helpers


def _cfg(report_to: list[str], out: Path | None = None) -> Any:
    from ftcore.config import config_from_dict

    return config_from_dict({"model": {"name": "ftcore-tiny-qwen2"}, "data": {"datasets": ["self-cognition-mini"]},
                             "train": {"report_to": report_to},
                             **({"output": {"dir": str(out)}} if out else {})})


def _problems(validate: Any, cfg: Any) -> list[str]:
    from ftcore.errors import FtcoreError

    try:
        result = validate(cfg)
    except FtcoreError as exc:
        return str(exc).splitlines()
    return list(getattr(result, "problems", result) or [])
