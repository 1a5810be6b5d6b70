"""Faults: concurrent runs (lock, race-free versions), SIGTERM / SIGINT (checkpoint, exact resume), full disk,
train_loss after a resume. Child processes train the tiny model for a few steps."""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ftcore.errors import FtcoreError
from ftcore.outputs import LOCK_FILE, RunLock, new_run_dir, read_state

from .conftest import ftcore, metrics, run_dict, run_dirs, subprocess_env, write_toml


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# --------------------------------------------------------------------------------------------- locks (item 9)


def test_lock_refuses_a_second_holder_and_names_it(tmp_path: Path) -> None:
    holder = {"pid": os.getppid(), "host": socket.gethostname(), "started": "2026-01-01T00:00:00"}
    (tmp_path / LOCK_FILE).write_text(json.dumps(holder))
    with pytest.raises(FtcoreError) as info:
        RunLock(tmp_path).acquire()
    text = str(info.value)
    assert "\n" not in text and f"pid {os.getppid()}" in text and socket.gethostname() in text
    assert "another run is writing into this folder" in text


def test_stale_lock_is_replaced_and_released(tmp_path: Path) -> None:
    (tmp_path / LOCK_FILE).write_text(json.dumps({"pid": _dead_pid(), "host": socket.gethostname()}))
    lock = RunLock(tmp_path).acquire()
    assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
    with pytest.raises(FtcoreError, match="another run"):  # held by this live process
        RunLock(tmp_path).acquire()
    lock.release()
    assert not (tmp_path / LOCK_FILE).exists()
    (tmp_path / LOCK_FILE).write_text("{garbage")  # a writer died before writing: unreadable = stale
    with RunLock(tmp_path):
        assert (tmp_path / LOCK_FILE).is_file()
    assert not (tmp_path / LOCK_FILE).exists()


def test_versions_are_race_free(tmp_path: Path) -> None:
    made: list[Path] = []
    barrier = threading.Barrier(8)

    def start(i: int) -> None:
        barrier.wait()
        made.append(new_run_dir(tmp_path, "m", now=1_700_000_000 + i))  # different seconds: different names

    threads = [threading.Thread(target=start, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    versions = sorted(int(p.name[1:].split("-")[0]) for p in made)
    assert versions == list(range(8))


@pytest.mark.slow
def test_second_run_into_a_locked_folder_gets_one_line(tiny_model: str, data_file: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    holder = {"pid": os.getpid(), "host": socket.gethostname(), "started": "now"}
    (out / LOCK_FILE).write_text(json.dumps(holder))  # this test process "is" the first run
    run = write_toml(tmp_path / "run.toml", run_dict(tiny_model, data_file, out, output={"add_suffix": False}))
    proc = ftcore(["train", str(run)])
    assert proc.returncode == 2, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"pid {os.getpid()}" in errors[0], proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert not (out / "run.toml").exists() and not (out / "metrics.jsonl").exists()
    assert json.loads((out / LOCK_FILE).read_text())["pid"] == os.getpid()  # the holder's lock is untouched


# -------------------------------------------------------------------------------------- signals (items 10, 12)


def _signal_script(tmp_path: Path, at: int | None, signals: tuple[int, ...]) -> Path:
    """A child that runs ``ftcore train`` and sends itself ``signals`` at the end of step ``at``."""
    script = tmp_path / f"child_{at}_{len(signals)}.py"
    script.write_text(f"""
import os, sys
from transformers import TrainerCallback
from ftcore.training import trainer as trainer_module
from ftcore.cli import main

class Send(TrainerCallback):
    def on_step_end(self, args, state, control, **kw):
        if state.global_step == {at!r}:
            for s in {[int(x) for x in signals]!r}:
                os.kill(os.getpid(), s)

real_init = trainer_module.FtcoreTrainer.__init__
def init(self, *a, **k):
    real_init(self, *a, **k)
    self.callback_handler.callbacks.insert(0, Send())
trainer_module.FtcoreTrainer.__init__ = init
sys.exit(main(sys.argv[1:]))
""")
    return script


@pytest.mark.slow
def test_sigterm_saves_and_resume_equals_the_uninterrupted_run(tiny_model: str, data_file: str,
                                                               tmp_path: Path) -> None:
    from safetensors.torch import load_file

    env = subprocess_env()
    settings = {"save_steps": 100}  # no regular checkpoint before the end: the signal's is the only one
    full = write_toml(tmp_path / "full.toml", run_dict(tiny_model, data_file, tmp_path / "full", train=settings))
    proc = subprocess.run([sys.executable, "-m", "ftcore", "train", str(full)], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    ref_dir = run_dirs(tmp_path / "full")[-1]
    reference = [r["loss"] for r in metrics(ref_dir) if "loss" in r]
    ref_result = json.loads((ref_dir / "result.json").read_text())

    run = write_toml(tmp_path / "run.toml", run_dict(tiny_model, data_file, tmp_path / "out", train=settings))
    proc = subprocess.run([sys.executable, str(_signal_script(tmp_path, 2, (signal.SIGTERM,))), "train", str(run)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr[-4000:]
    assert "Traceback" not in proc.stderr
    stopped = run_dirs(tmp_path / "out")[-1]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "stopped by SIGTERM after step 2" in errors[0]
    assert f"train.resume_from_checkpoint={stopped / 'checkpoint-2'}" in errors[0]
    assert read_state(stopped)["last"] == "checkpoint-2"
    assert not list(stopped.glob(".tmp-*")) and not (stopped / LOCK_FILE).exists()

    proc = subprocess.run([sys.executable, "-m", "ftcore", "train", str(run), "--set",
                           f"train.resume_from_checkpoint={stopped / 'checkpoint-2'}"], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    resumed_dir = run_dirs(tmp_path / "out")[-1]
    resumed = {r["step"]: r["loss"] for r in metrics(resumed_dir) if "loss" in r}
    assert sorted(resumed) == [3, 4]
    assert resumed[3] == pytest.approx(reference[2], rel=1e-4, abs=1e-5)
    assert resumed[4] == pytest.approx(reference[3], rel=1e-4, abs=1e-5)
    a = load_file(str(ref_dir / "checkpoint-4" / "adapter_model.safetensors"))
    b = load_file(str(resumed_dir / "checkpoint-4" / "adapter_model.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        assert (a[key] - b[key]).abs().max().item() < 1e-5, key
    # item 12: train_loss is the whole run's mean (steps 1-4), the resumed part is named for what it is
    result = json.loads((resumed_dir / "result.json").read_text())["metrics"]
    assert result["train_loss"] == pytest.approx(ref_result["metrics"]["train_loss"], rel=1e-4)
    assert result["train_loss_since_resume"] == pytest.approx(sum(reference[2:]) / 2, rel=1e-4)


@pytest.mark.slow
def test_second_sigint_exits_at_once(tiny_model: str, data_file: str, tmp_path: Path) -> None:
    run = write_toml(tmp_path / "run.toml", run_dict(tiny_model, data_file, tmp_path / "out",
                                                    train={"save_steps": 100}))
    script = _signal_script(tmp_path, 1, (signal.SIGINT, signal.SIGINT))
    proc = subprocess.run([sys.executable, str(script), "train", str(run)], env=subprocess_env(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 128 + signal.SIGINT, proc.stderr[-4000:]
    assert "SIGINT again: stopping now, without a checkpoint" in proc.stderr
    assert "Traceback" not in proc.stderr
    stopped = run_dirs(tmp_path / "out")[-1]
    assert not list(stopped.glob("checkpoint-*")) and not list(stopped.glob(".tmp-*"))


# ---------------------------------------------------------------------------------------- full disk (item 11)


@pytest.mark.slow
def test_disk_full_keeps_the_previous_checkpoint(tiny_model: str, data_file: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from transformers import Trainer

    from ftcore.training import train
    from ftcore.training.trainer import CheckpointWriteError

    real = Trainer._save_checkpoint
    calls = []

    def write(self: Trainer, *a: object, **k: object) -> None:
        calls.append(self.state.global_step)
        real(self, *a, **k)  # the files land in the staging folder …
        if len(calls) == 2:  # … and the second save's last file finds the disk full
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Trainer, "_save_checkpoint", write)
    run = write_toml(tmp_path / "run.toml", run_dict(tiny_model, data_file, tmp_path / "out"))
    with pytest.raises(CheckpointWriteError) as info:
        train(str(run))
    text = str(info.value)
    run_dir = run_dirs(tmp_path / "out")[-1]
    assert "\n" not in text and "checkpoint-4 could not be written to" in text and str(run_dir) in text
    assert "No space left on device" in text and "it needs about" in text and "checkpoint-2" in text
    assert read_state(run_dir)["last"] == "checkpoint-2"
    assert not list(run_dir.glob(".tmp-*")) and not (run_dir / LOCK_FILE).exists()


def test_low_space_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                           monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil
    from collections import namedtuple

    from ftcore.training.trainer import FtcoreTrainer

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10, 9, 1024))
    trainer = FtcoreTrainer.__new__(FtcoreTrainer)
    trainer._warn_low_space(str(tmp_path), 5 * 1024 * 1024)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "1.0 KB free, a checkpoint needs about 5.0 MB" in err


@pytest.mark.slow
def test_file_size_limit_is_one_line(tiny_model: str, data_file: str, tmp_path: Path) -> None:
    """A real write failure: ``ulimit -f`` below the checkpoint's size (Python ignores SIGXFSZ: writes fail with
    EFBIG, safetensors raises SafetensorError / torch.save a RuntimeError)."""
    import resource

    run = write_toml(tmp_path / "run.toml", run_dict(tiny_model, data_file, tmp_path / "out"))
    limit = 40 * 1024

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = ftcore(["train", str(run)], preexec_fn=small_files)
    assert proc.returncode == 2, proc.stderr[-4000:]
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.replace("\r", "\n").splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "could not be written to" in errors[0] and "it needs about" in errors[0], errors
    run_dir = run_dirs(tmp_path / "out")[-1]
    assert not list(run_dir.glob(".tmp-*")) and not list(run_dir.glob("checkpoint-*"))
