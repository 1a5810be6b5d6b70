"""Training runs the page starts: ``python -m ftcore train FILE`` as a subprocess, its output in a log file,
stopped with SIGTERM (ftcore finishes the step, writes a checkpoint and exits with 143).

A job finds its run folder by the lock the training process holds (``.ftcore.lock`` names its pid), else as the
newest run folder under the run's ``output.dir`` started after the job.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftcore.errors import FtcoreError
from ftcore.ui.runs import find_runs, run_of_pid

#: the progress bar's ``12/40`` (steps done / total) in the training output
PROGRESS_RE = re.compile(r"(\d+)/(\d+) \[")
LOG_TAIL = 4000


@dataclass
class Job:
    """One training subprocess."""

    id: int
    config: Path
    log: Path
    process: subprocess.Popen
    output_dir: Path
    started: float = field(default_factory=time.time)
    run_dir: Path | None = None
    stop_requested: bool = False

    @property
    def state(self) -> str:
        code = self.process.poll()
        if code is None:
            return "stopping" if self.stop_requested else "running"
        if code == 0:
            return "finished"
        return "stopped" if self.stop_requested else "failed"

    def log_tail(self, limit: int = LOG_TAIL) -> str:
        try:
            with self.log.open("rb") as fh:
                fh.seek(0, os.SEEK_END)
                size = fh.tell()
                fh.seek(max(0, size - limit))
                return fh.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def progress(self) -> tuple[int, int] | None:
        """(steps done, total) from the last progress bar update in the log."""
        hits = PROGRESS_RE.findall(self.log_tail().replace("\r", "\n"))
        return (int(hits[-1][0]), int(hits[-1][1])) if hits else None


class JobManager:
    """Starts, stops and follows the UI's training subprocesses (all under ``root``)."""

    def __init__(self, root: Path, python: str = sys.executable):
        self.root = root
        self.python = python
        self.jobs: dict[int, Job] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def start(self, config: Path, output_dir: Path) -> Job:
        """Start ``python -m ftcore train config`` in the config's folder, its output to ``.ftcore-ui/logs``."""
        with self._lock:
            job_id = next(self._ids)
            logs = self.root / ".ftcore-ui" / "logs"
            logs.mkdir(parents=True, exist_ok=True)
            log = logs / f"job-{job_id}-{time.strftime('%Y%m%d-%H%M%S')}.log"
            env = {**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}
            with log.open("wb") as out:
                process = subprocess.Popen(
                    [self.python, "-m", "ftcore", "train", str(config)],
                    cwd=str(config.parent), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                )
            job = Job(job_id, config, log, process, output_dir)
            self.jobs[job_id] = job
            return job

    def get(self, job_id: int) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            raise FtcoreError(f"no job {job_id} (the page's jobs: {sorted(self.jobs) or 'none'})")
        return job

    def stop(self, job_id: int) -> Job:
        """SIGTERM: the run finishes its step, saves a checkpoint and exits (a second stop sends SIGKILL)."""
        job = self.get(job_id)
        if job.process.poll() is None:
            sig = signal.SIGKILL if job.stop_requested else signal.SIGTERM
            job.stop_requested = True
            job.process.send_signal(sig)
        return job

    def run_dir(self, job: Job) -> Path | None:
        """The job's run folder, once the training process has created it."""
        if job.run_dir is None:
            found = run_of_pid(self.root, job.process.pid)
            if found is None and job.output_dir.is_dir():
                newer = [r for r in find_runs(job.output_dir) if (r / "run.toml").stat().st_mtime >= job.started - 1]
                found = newer[0] if newer else None
            job.run_dir = found
        return job.run_dir

    def describe(self, job: Job) -> dict[str, Any]:
        run = self.run_dir(job)
        progress = job.progress()
        return {
            "id": job.id,
            "state": job.state,
            "pid": job.process.pid,
            "returncode": job.process.poll(),
            "config": str(job.config.relative_to(self.root)),
            "run": str(run.relative_to(self.root)) if run else None,
            "step": progress[0] if progress else 0,
            "total": progress[1] if progress else None,
            "log": job.log_tail(),
        }

    def close(self) -> None:
        """Stop every job still running (the UI is shutting down): SIGTERM, then wait a little."""
        for job in self.jobs.values():
            if job.process.poll() is None:
                job.process.send_signal(signal.SIGTERM)
        for job in self.jobs.values():
            try:
                job.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                job.process.kill()
