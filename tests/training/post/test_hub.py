"""Push strategies over a simulated run (local-folder target), token handling, the hub clients up to the network."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ftcore.config import HubConfig
from ftcore.errors import FtcoreError
from ftcore.training import hub as hubmod
from ftcore.training.hub import LocalUploader, PushCallback, Pusher, make_uploader, resolve_token

TOKEN = "tok-SECRET-123"


def _checkpoint(run: Path, step: int) -> Path:
    ckpt = run / f"checkpoint-{step}"
    ckpt.mkdir(parents=True)
    (ckpt / "adapter_model.safetensors").write_text(f"weights {step}")
    (ckpt / "adapter_config.json").write_text("{}")
    (ckpt / "optimizer.pt").write_text("state")
    (ckpt / "trainer_state.json").write_text("{}")
    return ckpt


def _simulate(tmp_path: Path, strategy: str, uploader: Any = None) -> tuple[LocalUploader, Pusher]:
    """Saves at steps 2, 4, 6; the best is step 4 from step 4 on; checkpoint-2 is rotated away after step 6."""
    run = tmp_path / "run"
    target = uploader or LocalUploader(tmp_path / "hub" / "m-lora")
    pusher = Pusher(strategy, target, token=TOKEN, card="# card\n", say=lambda _t: None)
    cb = PushCallback(pusher)
    args = SimpleNamespace(output_dir=str(run))
    best = None
    for step in (2, 4, 6):
        ckpt = _checkpoint(run, step)
        best = str(ckpt) if step <= 4 else best
        state = SimpleNamespace(global_step=step, best_model_checkpoint=best, is_world_process_zero=True)
        cb.on_save(args, state, None)
    import shutil

    shutil.rmtree(run / "checkpoint-2")  # rotation while the pushes may still be running
    cb.on_train_end(args, SimpleNamespace(global_step=6, best_model_checkpoint=best, is_world_process_zero=True),
                    None)
    return target, pusher


STEP = "Training in progress, step {}"
END = [("", "End of training"), ("", "update model card README.md")]


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("end", END),
        ("push_best", [("", STEP.format(2)), ("", STEP.format(4)), *END]),
        ("push_last", [("", STEP.format(s)) for s in (2, 4, 6)] + END),
        ("checkpoint", [p for s in (2, 4, 6) for p in (("", STEP.format(s)), ("last-checkpoint", STEP.format(s)))]
         + END),
        ("all_checkpoints",
         [p for s in (2, 4, 6) for p in (("", STEP.format(s)), (f"checkpoint-{s}", STEP.format(s)))] + END),
    ],
)
def test_strategy_push_sequence(tmp_path: Path, strategy: str, expected: list[tuple[str, str]]) -> None:
    target, pusher = _simulate(tmp_path, strategy)
    assert [(p["path_in_repo"], p["message"]) for p in target.pushes()] == expected
    root = target.root
    assert (root / "adapter_model.safetensors").read_text() == "weights 6"  # the final model at the root
    assert not (root / "optimizer.pt").exists()  # training state only inside whole checkpoints
    assert (root / "README.md").read_text() == "# card\n"
    if strategy == "all_checkpoints":
        assert (root / "checkpoint-2" / "optimizer.pt").is_file()
    if strategy == "checkpoint":
        assert (root / "last-checkpoint" / "adapter_model.safetensors").read_text() == "weights 6"
    assert not list((tmp_path / "run").glob(".tmp-push-*"))  # snapshots released
    assert pusher.queue.failures == []


def test_existing_model_card_is_kept(tmp_path: Path) -> None:
    target = LocalUploader(tmp_path / "hub" / "m-lora")
    target.root.mkdir(parents=True)
    (target.root / "README.md").write_text("mine")
    _simulate(tmp_path, "end", target)
    assert (target.root / "README.md").read_text() == "mine"
    assert [p["message"] for p in target.pushes()] == ["End of training"]


class Failing:
    def __init__(self) -> None:
        self.calls = 0

    def upload_folder(self, folder: str, path_in_repo: str, message: str) -> None:
        self.calls += 1
        raise RuntimeError(f"401 for token {TOKEN}")

    def has_file(self, path_in_repo: str) -> bool:
        raise RuntimeError("offline")


def test_failures_are_reported_not_raised_and_scrubbed(tmp_path: Path) -> None:
    said: list[str] = []
    failing = Failing()
    pusher = Pusher("push_last", failing, token=TOKEN, card="c", say=said.append)
    cb = PushCallback(pusher)
    args = SimpleNamespace(output_dir=str(tmp_path / "run"))
    _checkpoint(tmp_path / "run", 1)
    state = SimpleNamespace(global_step=1, best_model_checkpoint=None, is_world_process_zero=True)
    cb.on_save(args, state, None)
    cb.on_train_end(args, state, None)  # no exception
    assert failing.calls == 3  # step 1, end, card
    assert len(pusher.queue.failures) == 3
    assert all(TOKEN not in text for text in said) and all("***" in f for f in pusher.queue.failures)


def test_token_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setenv("MODELSCOPE_API_TOKEN", "ms-env")
    assert resolve_token("modelscope", None) == "ms-env"
    assert resolve_token("modelscope", "given") == "given"  # run.toml wins
    assert resolve_token("huggingface", None) is None
    monkeypatch.setenv("HF_TOKEN", "hf-env")
    assert resolve_token("huggingface", None) == "hf-env"
    assert resolve_token("local", "given") is None
    cfg = HubConfig(push=True, hub="huggingface", token=TOKEN)
    assert TOKEN not in repr(cfg) and "token" not in cfg.model_dump()
    uploader = make_uploader(cfg, "qwen2.5-0.5b", "lora")
    assert TOKEN not in repr(uploader) and uploader.model_id == "qwen2.5-0.5b-lora" and uploader.private


def test_huggingface_client_calls(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import huggingface_hub

    calls: list[tuple[str, dict[str, Any]]] = []

    class FakeApi:
        def __init__(self, token: str | None = None) -> None:
            calls.append(("init", {"token": token}))

        def create_repo(self, **kw: Any) -> Any:
            calls.append(("create_repo", kw))
            return SimpleNamespace(repo_id="me/" + kw["repo_id"])

        def upload_folder(self, **kw: Any) -> None:
            calls.append(("upload_folder", kw))

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    up = make_uploader(HubConfig(hub="huggingface", model_id="tiny-lora", token=TOKEN), "x", "lora")
    up.upload_folder(str(tmp_path), "", "End of training")
    up.upload_folder(str(tmp_path), "checkpoint-2", "Training in progress, step 2")
    assert calls[0] == ("init", {"token": TOKEN})
    assert calls[1] == ("create_repo", {"repo_id": "tiny-lora", "private": True, "exist_ok": True,
                                        "repo_type": "model"})
    assert calls[2] == ("upload_folder", {"repo_id": "me/tiny-lora", "folder_path": str(tmp_path),
                                          "path_in_repo": None, "commit_message": "End of training",
                                          "repo_type": "model"})
    assert [c for c, _ in calls].count("create_repo") == 1
    assert calls[-1][1]["path_in_repo"] == "checkpoint-2"


def test_modelscope_client_calls(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("modelscope")
    import modelscope.hub.api as msapi

    calls: list[tuple[str, Any, dict[str, Any]]] = []

    class FakeApi:
        def __init__(self, token: str | None = None) -> None:
            self._api = SimpleNamespace(whoami=lambda: SimpleNamespace(username="alice"))
            calls.append(("init", None, {"token": token}))

        def create_repo(self, repo_id: str, **kw: Any) -> None:
            calls.append(("create_repo", repo_id, kw))

        def upload_folder(self, **kw: Any) -> None:
            calls.append(("upload_folder", None, kw))

    monkeypatch.setattr(msapi, "HubApi", FakeApi)
    monkeypatch.setenv("MODELSCOPE_API_TOKEN", "ms-env")
    up = make_uploader(HubConfig(hub="modelscope", private=False), "qwen-7b", "qlora")
    up.upload_folder(str(tmp_path), "", "End of training")
    assert calls[0] == ("init", None, {"token": "ms-env"})
    assert calls[1] == ("create_repo", "alice/qwen-7b-qlora", {"token": "ms-env", "visibility": "public",
                                                                "exist_ok": True})
    assert calls[2][2] == {"repo_id": "alice/qwen-7b-qlora", "folder_path": str(tmp_path), "path_in_repo": "",
                           "commit_message": "End of training", "token": "ms-env"}


def test_local_needs_a_folder() -> None:
    with pytest.raises(FtcoreError, match="hub.local_dir"):
        make_uploader(HubConfig(hub="local"), "m", "lora")
    with pytest.raises(FtcoreError, match="hub.strategy"):
        Pusher("sometimes", LocalUploader("."))
    assert hubmod.default_model_id("org/Qwen 7B", "lora") == "org-Qwen-7B-lora"
