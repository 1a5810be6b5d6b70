"""Pushing checkpoints to a hub while and after training (``[hub]`` of run.toml; ms-swift's ``push_to_hub``).

    uploader = make_uploader(cfg, model_name)          # ModelScope, Hugging Face, or a local folder
    trainer.add_callback(PushCallback(cfg.hub.strategy, uploader))

Strategies (ms-swift's ``push_hub_strategy``; every push of a checkpoint's model files goes to the repo root):

* ``end``             — nothing while training; the final model at the end.
* ``push_best``       — after a save, only when that checkpoint is the best so far; the final model at the end.
* ``push_last``       — after every save; the final model at the end.
* ``checkpoint``      — after every save, plus the whole checkpoint (optimizer state too) as ``last-checkpoint/``.
* ``all_checkpoints`` — after every save, plus the whole checkpoint as ``checkpoint-<step>/``.

At the end the model card ``README.md`` is pushed if the repo has none. Pushes run on one worker thread, in order:
training does not wait for the network (a checkpoint is snapshotted with hard links first, so rotation cannot delete
it under the upload); a failed push is reported on stderr and training goes on. The token comes from ``hub.token``
or the environment (``MODELSCOPE_API_TOKEN`` / ``HF_TOKEN``); it is handed to the hub client and nothing else —
never printed, logged or written (error messages are scrubbed of it).
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ftcore.errors import FtcoreError

try:  # the callback base class; the module stays importable (for `ftcore push`) without transformers
    from transformers import TrainerCallback
except ImportError:  # pragma: no cover
    TrainerCallback = object  # type: ignore[assignment,misc]

STRATEGIES = ("end", "push_best", "push_last", "checkpoint", "all_checkpoints")
TOKEN_ENV = {"modelscope": ("MODELSCOPE_API_TOKEN",), "huggingface": ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")}
#: training state that stays out of the repo root (it goes up only with whole checkpoints)
#: (and peft's placeholder README.md: the repo's card is ftcore's, pushed at the end when the repo has none)
STATE_FILES = ("optimizer.pt", "scheduler.pt", "scaler.pt", "rng_state*.pth", "global_step*", "trainer_state.json",
               "training_args.bin", "eval_report.json", "README.md")
#: the local target's push log
PUSH_LOG = ".ftcore_pushes.jsonl"


class Uploader(Protocol):
    """Where pushes go. ``path_in_repo`` "" is the repo root."""

    def upload_folder(self, folder: str, path_in_repo: str, message: str) -> None: ...

    def has_file(self, path_in_repo: str) -> bool: ...


def resolve_token(hub: str, token: str | None) -> str | None:
    """``hub.token`` if given, else the hub's environment variable; None for the local target."""
    if hub == "local":
        return None
    if token:
        return token
    for name in TOKEN_ENV.get(hub, ()):
        if os.environ.get(name):
            return os.environ[name]
    return None


def _scrub(text: str, token: str | None) -> str:
    return text.replace(token, "***") if token else text


def _ignore(extra: tuple[str, ...] = ()) -> Callable[[str, list[str]], set[str]]:
    import fnmatch

    patterns = (*extra, ".ftcore_pushes.jsonl")

    def ignore(_dir: str, names: list[str]) -> set[str]:
        return {n for n in names for p in patterns if fnmatch.fnmatch(n, p)}

    return ignore


class LocalUploader:
    """Pushes into a folder (a shared filesystem): ``<local_dir>/<model_id>/``; each push is logged in
    ``.ftcore_pushes.jsonl`` there (``path_in_repo``, ``message``, ``files``)."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)

    def upload_folder(self, folder: str, path_in_repo: str, message: str) -> None:
        target = self.root / path_in_repo if path_in_repo else self.root
        target.mkdir(parents=True, exist_ok=True)
        shutil.copytree(folder, target, dirs_exist_ok=True)
        files = sorted(str(p.relative_to(folder)) for p in Path(folder).rglob("*") if p.is_file())
        with (self.root / PUSH_LOG).open("a", encoding="utf-8") as fh:
            fh.write(json.dumps({"path_in_repo": path_in_repo, "message": message, "files": files}) + "\n")

    def has_file(self, path_in_repo: str) -> bool:
        return (self.root / path_in_repo).is_file()

    def pushes(self) -> list[dict[str, Any]]:
        log = self.root / PUSH_LOG
        if not log.is_file():
            return []
        return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]


class HuggingFaceUploader:
    """``huggingface_hub.HfApi``: creates the repo (private by default, existing is fine) before the first push."""

    def __init__(self, model_id: str, token: str | None, private: bool = True):
        self.model_id = model_id
        self._token = token
        self.private = private
        self.repo_id: str | None = None

    def __repr__(self) -> str:
        return f"HuggingFaceUploader({self.model_id!r}, private={self.private})"

    def _api(self) -> Any:
        from huggingface_hub import HfApi

        return HfApi(token=self._token)

    def _ensure_repo(self, api: Any) -> str:
        if self.repo_id is None:
            url = api.create_repo(repo_id=self.model_id, private=self.private, exist_ok=True, repo_type="model")
            self.repo_id = str(getattr(url, "repo_id", None) or self.model_id)
        return self.repo_id

    def upload_folder(self, folder: str, path_in_repo: str, message: str) -> None:
        api = self._api()
        repo_id = self._ensure_repo(api)
        api.upload_folder(repo_id=repo_id, folder_path=folder, path_in_repo=path_in_repo or None,
                          commit_message=message, repo_type="model")

    def has_file(self, path_in_repo: str) -> bool:
        api = self._api()
        return bool(api.file_exists(self._ensure_repo(api), path_in_repo))


class ModelScopeUploader:
    """``modelscope.hub.api.HubApi``: an id without an owner gets the token's user name (as ms-swift); the repo is
    created private by default (existing is fine)."""

    def __init__(self, model_id: str, token: str | None, private: bool = True):
        self.model_id = model_id
        self._token = token
        self.private = private
        self.repo_id: str | None = None

    def __repr__(self) -> str:
        return f"ModelScopeUploader({self.model_id!r}, private={self.private})"

    def _api(self) -> Any:
        try:
            from modelscope.hub.api import HubApi
        except ImportError:
            raise FtcoreError("hub.hub = 'modelscope' needs modelscope: pip install 'ftcore[modelscope]'") from None
        return HubApi(token=self._token)

    def _ensure_repo(self, api: Any) -> str:
        if self.repo_id is None:
            repo_id = self.model_id
            if "/" not in repo_id:
                user = api._api.whoami()
                owner = getattr(user, "username", None) or getattr(user, "name", None)
                if not owner:
                    raise FtcoreError("hub.model_id: give <owner>/<name> (the token's user name is unknown)")
                repo_id = f"{owner}/{repo_id}"
            api.create_repo(repo_id, token=self._token, visibility="private" if self.private else "public",
                            exist_ok=True)
            self.repo_id = repo_id
        return self.repo_id

    def upload_folder(self, folder: str, path_in_repo: str, message: str) -> None:
        api = self._api()
        repo_id = self._ensure_repo(api)
        api.upload_folder(repo_id=repo_id, folder_path=folder, path_in_repo=path_in_repo,
                          commit_message=message, token=self._token)

    def has_file(self, path_in_repo: str) -> bool:
        api = self._api()
        try:
            return bool(api.file_exists(self._ensure_repo(api), path_in_repo))
        except Exception:  # noqa: BLE001 - older clients: assume absent, the card is then pushed
            return False


def default_model_id(model_name: str, method: str) -> str:
    """``<model>-<tuner>`` (ms-swift's default hub_model_id), with characters hubs refuse replaced."""
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "-", f"{model_name}-{method}").strip("-")


def make_uploader(hub_cfg: Any, model_name: str, method: str, *, token: str | None = None,
                  base_dir: str = ".") -> Uploader:
    """The uploader ``[hub]`` describes; ``token`` (else ``hub.token``, else the environment) for real hubs."""
    model_id = hub_cfg.model_id or default_model_id(model_name, method)
    if hub_cfg.hub == "local":
        if not hub_cfg.local_dir:
            raise FtcoreError("hub.local_dir: hub = 'local' pushes to a folder; set hub.local_dir")
        root = Path(os.path.expanduser(hub_cfg.local_dir))
        if not root.is_absolute():
            root = Path(base_dir) / root
        return LocalUploader(root / model_id)
    secret = resolve_token(hub_cfg.hub, token or hub_cfg.token)
    if hub_cfg.hub == "huggingface":
        return HuggingFaceUploader(model_id, secret, hub_cfg.private)
    return ModelScopeUploader(model_id, secret, hub_cfg.private)


# ------------------------------------------------------------------------------------------ the worker


@dataclass
class _Job:
    folder: str
    path_in_repo: str
    message: str
    cleanup: bool


class PushQueue:
    """One background thread that uploads jobs in order; failures are reported (stderr, ``failures``), never
    raised. ``token`` is only used to scrub error messages."""

    def __init__(self, uploader: Uploader, *, token: str | None = None, say: Callable[[str], None] | None = None):
        self.uploader = uploader
        self._token = token
        self.say = say or (lambda text: print(text, file=sys.stderr, flush=True))
        self.queue: queue.Queue[_Job | None] = queue.Queue()
        self.done: list[str] = []
        self.failures: list[str] = []
        self._thread: threading.Thread | None = None

    def put(self, folder: str, path_in_repo: str, message: str, *, cleanup: bool = False) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="ftcore-push", daemon=True)
            self._thread.start()
        self.queue.put(_Job(folder, path_in_repo, message, cleanup))

    def _work(self) -> None:
        while True:
            job = self.queue.get()
            try:
                if job is None:
                    return
                try:
                    self.uploader.upload_folder(job.folder, job.path_in_repo, job.message)
                    self.done.append(job.message)
                except Exception as exc:  # noqa: BLE001 - a failed push never stops training
                    where = f" ({job.path_in_repo})" if job.path_in_repo else ""
                    text = _scrub(f"push failed{where}: {job.message}: {type(exc).__name__}: {exc}", self._token)
                    self.failures.append(text)
                    self.say(f"warning: {text}")
                finally:
                    if job.cleanup:
                        shutil.rmtree(job.folder, ignore_errors=True)
            finally:
                self.queue.task_done()

    def wait(self) -> None:
        """Block until every queued push has finished."""
        if self._thread is not None:
            self.queue.join()

    def close(self) -> None:
        if self._thread is not None:
            self.queue.put(None)
            self._thread.join()
            self._thread = None


def snapshot(folder: str | os.PathLike[str], *, model_only: bool) -> str:
    """A private copy of ``folder`` (hard links where possible: instant, no extra disk) that the upload owns, so
    checkpoint rotation cannot delete files under it. ``model_only`` leaves training state out."""
    try:
        target = tempfile.mkdtemp(prefix=".tmp-push-", dir=str(Path(folder).parent))  # same disk: hard links work
    except OSError:  # a read-only run folder (ftcore push of a shared checkpoint)
        target = tempfile.mkdtemp(prefix="ftcore-push-")

    def link(src: str, dst_: str) -> Any:
        try:
            return os.link(src, dst_)
        except OSError:
            return shutil.copy2(src, dst_)

    shutil.copytree(folder, target, copy_function=link, ignore=_ignore(STATE_FILES if model_only else ()),
                    dirs_exist_ok=True)
    return target


MODEL_CARD = """---
library_name: {library}
tags:
- ftcore
- {method}
---

# {model_id}

Fine-tuned with [ftcore](https://github.com/) from `{base}` ({method}).

* template: `{template}`
* trained: {date}
"""


def model_card(cfg: Any, model_id: str) -> str:
    m = cfg.model
    return MODEL_CARD.format(
        library="peft" if cfg.tuner.method in ("lora", "qlora") else "transformers",
        method=cfg.tuner.method, model_id=model_id, base=m.name or m.repo or Path(str(m.path)).name,
        template=cfg.template.name or "default", date=time.strftime("%Y-%m-%d"),
    )


class Pusher:
    """The strategy logic, independent of the Trainer: call :meth:`on_save` after each checkpoint save and
    :meth:`on_end` once at the end; uploads go through a :class:`PushQueue`."""

    def __init__(self, strategy: str, uploader: Uploader, *, token: str | None = None,
                 card: str | None = None, say: Callable[[str], None] | None = None):
        if strategy not in STRATEGIES:
            raise FtcoreError(f"hub.strategy: must be one of {', '.join(STRATEGIES)} (got {strategy!r})")
        self.strategy = strategy
        self.uploader = uploader
        self.card = card
        self.queue = PushQueue(uploader, token=token, say=say)

    def on_save(self, checkpoint: str, step: int, *, is_best: bool) -> None:
        if self.strategy == "end":
            return
        if self.strategy == "push_best" and not is_best:
            return
        self._submit(checkpoint, step)

    def _submit(self, checkpoint: str, step: int) -> None:
        message = f"Training in progress, step {step}"
        root = snapshot(checkpoint, model_only=True)
        self.queue.put(root, "", message, cleanup=True)
        if self.strategy == "checkpoint":
            self.queue.put(snapshot(checkpoint, model_only=False), "last-checkpoint", message, cleanup=True)
        elif self.strategy == "all_checkpoints":
            self.queue.put(snapshot(checkpoint, model_only=False), Path(checkpoint).name, message, cleanup=True)

    def on_end(self, final_checkpoint: str | None, *, wait: bool = True) -> None:
        """Push the final model with ``End of training`` and the model card if the repo has none; wait for the
        queue (the process must not exit under an upload)."""
        if final_checkpoint:
            self.queue.put(snapshot(final_checkpoint, model_only=True), "", "End of training", cleanup=True)
        if self.card is not None:
            self.queue.wait()
            try:
                has_card = self.uploader.has_file("README.md")
            except Exception:  # noqa: BLE001
                has_card = False
            if not has_card:
                folder = tempfile.mkdtemp(prefix="ftcore-card-")
                Path(folder, "README.md").write_text(self.card, encoding="utf-8")
                self.queue.put(folder, "", "update model card README.md", cleanup=True)
        if wait:
            self.queue.wait()


class PushCallback(TrainerCallback):  # type: ignore[misc,valid-type]
    """Drives a :class:`Pusher` from the Trainer's saves (rank 0 only)."""

    def __init__(self, pusher: Pusher):
        self.pusher = pusher
        self.last: str | None = None

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        ckpt = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
        if not os.path.isdir(ckpt):
            return
        self.last = ckpt
        best = state.best_model_checkpoint
        is_best = best is None or os.path.abspath(best) == os.path.abspath(ckpt)
        self.pusher.on_save(ckpt, state.global_step, is_best=is_best)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        final = self.last
        if final is None or not os.path.isdir(final):
            final = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
        self.pusher.on_end(final if os.path.isdir(final) else None)
        failures = self.pusher.queue.failures
        done = len(self.pusher.queue.done)
        self.pusher.queue.say(f"hub: {done} push(es) done" + (f", {len(failures)} failed" if failures else ""))


def push_checkpoint(ckpt: str | os.PathLike[str], *, hub: str | None = None, model_id: str | None = None,
                    private: bool | None = None, local_dir: str | None = None, message: str = "Upload model",
                    say: Callable[[str], None] | None = None) -> Pusher:
    """``ftcore push CKPT``: upload a checkpoint's model files (and the model card if the repo has none) as
    ``[hub]`` of its run says, options overriding. The token comes from the environment."""
    from ftcore.inference.checkpoint import checkpoint_config, resolve_checkpoint

    path = resolve_checkpoint(ckpt)
    cfg = checkpoint_config(path)
    h = cfg.hub.model_copy()
    if hub is not None:
        h.hub = hub  # type: ignore[assignment]
    if model_id is not None:
        h.model_id = model_id
    if private is not None:
        h.private = private
    if local_dir is not None:
        h.local_dir = local_dir
    name = cfg.model.name or Path(str(cfg.model.path or cfg.model.repo or path)).name
    method = "full" if (path / "config.json").is_file() and not (path / "adapter_config.json").is_file() \
        else cfg.tuner.method
    uploader = make_uploader(h, name, method, base_dir=os.getcwd())
    token = resolve_token(h.hub, None)
    if h.hub != "local" and not token:
        raise FtcoreError(f"hub {h.hub}: no token; set {' or '.join(TOKEN_ENV[h.hub])} in the environment")
    model_id_used = h.model_id or default_model_id(name, method)
    pusher = Pusher("end", uploader, token=token, card=model_card(cfg, model_id_used), say=say)
    pusher.queue.put(snapshot(path, model_only=True), "", message, cleanup=True)
    pusher.on_end(None)
    pusher.queue.close()
    if pusher.queue.failures:
        raise FtcoreError(pusher.queue.failures[0])
    return pusher
