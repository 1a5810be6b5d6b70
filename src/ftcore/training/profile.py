"""``FTCORE_PROFILE=1``: where the time before the first optimizer step goes.

The recipe times each of its steps (:meth:`StartupProfile.part`); ``imports`` is the time to import the heavy
libraries a run needs (torch, transformers, peft, datasets, accelerate), taken first so the steps after it do not
count it; ``prepare_data`` is split into its preprocessing (load, normalize, encode or the cache) and ``packing``;
the Trainer's own set-up inside ``train()`` (accelerate's prepare, the optimizer, the first batch) and the first
step come from a callback. The breakdown is printed on stderr (rank 0) when step 1 ends:

    time to first step: 9.41 s (FTCORE_PROFILE=1)
      imports                 4.02 s
      setup_distributed       0.05 s
      load_model              0.61 s
      ...
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["StartupProfile", "profiling_enabled"]

#: what a run imports anyway; importing it up front puts its cost on one line
HEAVY_IMPORTS = ("torch", "transformers", "peft", "datasets", "accelerate")


def profiling_enabled() -> bool:
    return os.environ.get("FTCORE_PROFILE", "").strip().lower() in ("1", "true", "yes", "on")


class StartupProfile:
    """Named durations from the start of a run to the end of its first optimizer step."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = profiling_enabled() if enabled is None else enabled
        self.start = time.perf_counter()
        #: (name, seconds, depth) in order
        self.parts: list[tuple[str, float, int]] = []
        self.printed = False
        #: when the recipe's train step began (the Trainer's set-up is measured from here)
        self.train_start: float | None = None
        self._depth = 0

    def add(self, name: str, seconds: float, depth: int | None = None) -> None:
        self.parts.append((name, seconds, self._depth if depth is None else depth))

    @contextmanager
    def part(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        index = len(self.parts)
        self.parts.append((name, 0.0, self._depth))
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            self.parts[index] = (name, time.perf_counter() - t0, self._depth)

    def imports(self) -> None:
        """Import the heavy libraries now, timed (a no-op for those already imported)."""
        import importlib

        with self.part("imports"):
            for name in HEAVY_IMPORTS:
                try:
                    importlib.import_module(name)
                except ImportError:  # pragma: no cover - a run without it fails later with its own message
                    pass

    def total(self) -> float:
        return time.perf_counter() - self.start

    def render(self) -> str:
        lines = [f"time to first step: {self.total():.2f} s (FTCORE_PROFILE=1)"]
        for name, seconds, depth in self.parts:
            lines.append(f"  {'  ' * depth}{name:<{24 - 2 * depth}} {seconds:7.2f} s")
        return "\n".join(lines)

    def report(self) -> None:
        if self.enabled and not self.printed:
            self.printed = True
            print(self.render(), file=sys.stderr, flush=True)

    def callback(self) -> Any:
        """A TrainerCallback timing the Trainer's set-up inside train() and the first step, then printing."""
        from transformers import TrainerCallback

        profile = self

        class _FirstStep(TrainerCallback):
            def __init__(self) -> None:
                self.begin: float | None = None

            def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
                self.begin = time.perf_counter()
                profile.add("train: trainer set-up", self.begin - (profile.train_start or self.begin), 0)

            def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
                if profile.printed or self.begin is None:
                    return
                profile.add("train: first step", time.perf_counter() - self.begin, 0)
                if state.is_world_process_zero:
                    profile.report()
                profile.printed = True

        return _FirstStep()
