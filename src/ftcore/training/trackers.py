"""Experiment trackers (``train.report_to``): TensorBoard, Weights & Biases, MLflow, SwanLab, Trackio and Aim.

wandb, mlflow, swanlab and trackio are the Trainer's own integrations (``TrainingArguments.report_to``);
TensorBoard's callback is added here so its folder is the run's ``logs/`` (or ``output.logging_dir``), and Aim,
which transformers 5 has no integration for, through Aim's own ``aim.hugging_face.AimCallback``. Their local /
offline stores are chosen by :func:`ftcore.training.environment.tracker_environment_for`. Every tracker also gets
the run's config (``run.toml`` as a dict, secrets redacted) under the key ``ftcore``; docs/tracking.md.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transformers import TrainerCallback

from ftcore.redact import redact_mapping

if TYPE_CHECKING:  # pragma: no cover
    from ftcore.config import RunConfig

__all__ = ["TRACKERS", "TrackerConfigCallback", "TrackerStartCallback", "add_trackers", "restore_command_line",
           "trainer_integrations"]

#: the trackers ftcore documents and tests (others of transformers' integrations pass through as they are)
TRACKERS = ("tensorboard", "wandb", "mlflow", "swanlab", "trackio", "aim")
#: the trackers whose callbacks ftcore adds itself instead of naming them in TrainingArguments.report_to
_OWN_CALLBACKS = ("tensorboard", "aim")
#: the key the run config is logged under
CONFIG_KEY = "ftcore"


def trainer_integrations(report_to: list[str]) -> list[str]:
    """The ``TrainingArguments.report_to`` names: every integration but the ones ftcore adds itself (and none)."""
    return [name for name in dict.fromkeys(report_to) if name not in (*_OWN_CALLBACKS, "none")]


def add_trackers(trainer: Any, cfg: RunConfig, run_dir: str | Path, run_config: dict[str, Any],
                 *, main_process: bool = True) -> None:
    """Add TensorBoard's and Aim's callbacks (main process) and the callback that logs ``run_config`` to every
    tracker of ``train.report_to``; point MLflow at the tracking URI of this run."""
    report_to = list(cfg.train.report_to)
    if not main_process or not report_to or report_to == ["none"]:
        return
    tensorboard = aim = None
    if "tensorboard" in report_to:
        from transformers.integrations import TensorBoardCallback

        try:
            tensorboard = TensorBoardCallback()
        except RuntimeError:  # tensorboard not installed (validation says so first)
            tensorboard = None
        if tensorboard is not None:
            tensorboard.logging_dir = cfg.resolve_path(cfg.output.logging_dir) if cfg.output.logging_dir else str(
                Path(run_dir) / "logs")
            trainer.add_callback(tensorboard)
    if "aim" in report_to:
        from aim.hugging_face import AimCallback

        # log_system_params lists the installed packages through pkg_resources, which setuptools >= 81 dropped
        aim = AimCallback(repo=str(Path(run_dir).resolve()), experiment=CONFIG_KEY, log_system_params=False)
        trainer.add_callback(aim)
    if "mlflow" in report_to and os.environ.get("MLFLOW_TRACKING_URI"):
        import mlflow

        mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])  # not a URI an earlier run in this process set
    if "trackio" in report_to:
        note = trackio_folder_note(os.environ.get("TRACKIO_DIR"))
        if note:
            from ftcore.training.steps import say

            say(note)
    start = TrackerStartCallback(report_to)
    trainer.callback_handler.callbacks.insert(0, start)  # before the integrations open their runs
    trainer.add_callback(TrackerConfigCallback(report_to, redact_mapping(run_config), tensorboard=tensorboard,
                                               aim=aim, start=start))


class TrackerStartCallback(TrainerCallback):
    """Runs before the integrations open their runs (first in the callback list):

    * while training, ``sys.argv`` is the redacted command line: trackers record it (wandb's metadata, swanlab's
      and Aim's system info), and ``--set hub.token=...`` must not reach them; :meth:`restore` puts it back;
    * swanlab's run is opened here: transformers' SwanLabCallback asks ``swanlab.get_run()``, which raises in
      swanlab >= 0.10 while no run is open instead of returning None.
    """

    def __init__(self, report_to: list[str]) -> None:
        self.report_to = list(report_to)
        self.saved: list[str] | None = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        import sys

        from ftcore.redact import redact_argv

        if self.saved is None:
            self.saved = list(sys.argv)
            sys.argv[:] = redact_argv(sys.argv)
        if "swanlab" in self.report_to and state.is_world_process_zero and swanlab_run() is None:
            import swanlab

            options = {"id": os.environ.get("SWANLAB_RUN_ID"), "resume": os.environ.get("SWANLAB_RESUME")}
            swanlab.init(project=os.environ.get("SWANLAB_PROJECT") or CONFIG_KEY, experiment_name=args.run_name,
                         **{k: v for k, v in options.items() if v})

    def restore(self) -> None:
        import sys

        if self.saved is not None:
            sys.argv[:] = self.saved
            self.saved = None


def trackio_folder_note(wanted: str | None) -> str | None:
    """A warning when trackio, imported before this run, keeps writing to another folder than ``TRACKIO_DIR``
    (trackio reads it once, at import)."""
    import sys

    module = sys.modules.get("trackio.utils")
    current = getattr(module, "TRACKIO_DIR", None)
    if wanted is None or current is None or Path(current).resolve() == Path(wanted).resolve():
        return None
    return (f"warning: train.report_to: trackio was imported before this run, so it writes to {current}, not "
            f"{wanted}; start a new Python process for a run folder of its own")


def restore_command_line(trainer: Any) -> None:
    """Put back the ``sys.argv`` that :class:`TrackerStartCallback` redacted (a no-op when it did not)."""
    for callback in trainer.callback_handler.callbacks:
        if isinstance(callback, TrackerStartCallback):
            callback.restore()


def swanlab_run() -> Any:
    """swanlab's open run, or None (``swanlab.get_run`` raises when there is none in swanlab >= 0.10)."""
    import swanlab

    try:
        return swanlab.get_run()
    except RuntimeError:
        return None


def _flat(data: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}``; lists as JSON text."""
    out: dict[str, Any] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            out.update(_flat(value, f"{prefix}{key}."))
    else:
        out[prefix[:-1]] = json.dumps(data, ensure_ascii=False) if isinstance(data, list) else data
    return out


class TrackerConfigCallback(TrainerCallback):
    """Logs the run's config (secrets redacted) to each tracker when training begins, after the integrations have
    opened their runs; at the end closes the runs the integrations leave open (wandb, swanlab), so their local
    stores are complete when ``train`` returns."""

    def __init__(self, report_to: list[str], run_config: dict[str, Any], *, tensorboard: Any = None,
                 aim: Any = None, start: TrackerStartCallback | None = None):
        self.start = start
        self.report_to = list(report_to)
        self.run_config = redact_mapping(run_config)
        self.tensorboard = tensorboard
        self.aim = aim

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        config = {CONFIG_KEY: self.run_config}
        for name in self.report_to:
            log = getattr(self, f"_log_{name}", None)
            if log is not None:
                log(config)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.start is not None:
            self.start.restore()
        if not state.is_world_process_zero:
            return
        if "wandb" in self.report_to:
            import wandb

            if wandb.run is not None:
                wandb.finish()
        if "swanlab" in self.report_to:
            import swanlab

            if swanlab_run() is not None:
                swanlab.finish()

    # one method per tracker: what "log the config" means there

    def _log_wandb(self, config: dict[str, Any]) -> None:
        import wandb

        if wandb.run is not None:
            wandb.run.config.update(config, allow_val_change=True)

    def _log_swanlab(self, config: dict[str, Any]) -> None:
        import swanlab

        if swanlab_run() is not None:
            swanlab.config.update(config)

    def _log_trackio(self, config: dict[str, Any]) -> None:
        import trackio

        trackio.config.update(config)

    def _log_mlflow(self, config: dict[str, Any]) -> None:
        import mlflow

        if mlflow.active_run() is None:
            return
        mlflow.log_dict(config, "ftcore_run.json")  # the whole config, nested, as an artifact
        params = {k: v for k, v in _flat(config).items() if len(str(v)) <= 250}  # MLflow's limit per value
        items = list(params.items())
        for i in range(0, len(items), 100):  # MLflow's limit per call
            mlflow.log_params(dict(items[i:i + 100]))

    def _log_aim(self, config: dict[str, Any]) -> None:
        if self.aim is not None and self.aim.experiment is not None:
            self.aim.experiment[CONFIG_KEY] = config[CONFIG_KEY]

    def _log_tensorboard(self, config: dict[str, Any]) -> None:
        writer = getattr(self.tensorboard, "tb_writer", None)
        if writer is not None:
            text = json.dumps(config[CONFIG_KEY], indent=2, ensure_ascii=False)
            writer.add_text(CONFIG_KEY, "```json\n" + text + "\n```")
            writer.flush()
