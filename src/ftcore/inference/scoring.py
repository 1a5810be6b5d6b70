"""``ftcore infer CKPT --score FILE``: one reward per input line, from a reward-model checkpoint."""

from __future__ import annotations

from typing import Any

from ftcore.errors import FtcoreError
from ftcore.inference.score import is_reward_run, score


def read_score_inputs(path: str) -> list[Any]:
    """The inputs of ``ftcore infer --score FILE``: JSON lines (objects or strings), else one text per line."""
    import json
    import sys
    from pathlib import Path

    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise FtcoreError(f"{path}: cannot read the inputs to score ({exc.strerror or exc})") from None
    items: list[Any] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if line.lstrip().startswith(("{", '"')):
            try:
                items.append(json.loads(line))
            except ValueError:
                raise FtcoreError(f"{path}: line {n} is not valid JSON") from None
        else:
            items.append(line)
    return items


def check_score_mode(ckpt: str, score_file: str | None, *, allow_plugins: bool = False) -> bool:
    """``ftcore infer``'s branch for reward models: with ``--score``, print the scores (True: done); a reward-model
    checkpoint without it, or ``--score`` on a generating checkpoint, is a one-line error."""
    from ftcore.inference.checkpoint import checkpoint_config, load_checkpoint, resolve_checkpoint

    path = resolve_checkpoint(ckpt)
    reward = is_reward_run(checkpoint_config(path))
    if score_file is None:
        if reward:
            raise FtcoreError(f"{path}: a reward model (train.stage = rm) scores text, it does not generate: "
                              "use ftcore infer CKPT --score FILE")
        return False
    if not reward:
        raise FtcoreError(f"{path}: --score needs a reward-model checkpoint (train.stage = rm); this run's stage "
                          f"is {checkpoint_config(path).train.stage!r}")
    items = read_score_inputs(score_file)
    model, tokenizer, template, _ = load_checkpoint(path, allow_plugins=allow_plugins)
    for value in score(model, tokenizer, template, items):
        print(f"{value:.6f}")
    return True


__all__ = ["check_score_mode", "read_score_inputs"]
