"""``ftcore serve`` on the command line: its flags, the host / API key rules, one-line errors (missing extra, vLLM
not installed, bad --adapter, an adapter on another base), and what ``ftcore serve`` resolves a name to."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from ftcore.cli import main
from ftcore.errors import FtcoreError
from ftcore.serve.engine import Engine
from ftcore.serve.server import exposure_warning, is_local


def test_help_lists_the_flags(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    out = capsys.readouterr().out
    for flag in ("--host", "--port", "--adapter NAME=CKPT", "--api-key", "--backend", "--served-name"):
        assert flag in out
    assert "127.0.0.1" in out


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"])
def test_loopback_hosts_need_no_key(host: str) -> None:
    assert is_local(host) and exposure_warning(host, None) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "example.org"])
def test_other_hosts_warn_without_a_key(host: str) -> None:
    assert not is_local(host)
    assert "without an API key" in (exposure_warning(host, None) or "")
    assert exposure_warning(host, "k") is None


class _Fake(Engine):
    closed = False

    def close(self) -> None:
        _Fake.closed = True


@pytest.fixture
def no_server(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """``ftcore serve`` with loading and uvicorn replaced: records what it would serve."""
    import uvicorn

    import ftcore.serve.backends as backends

    seen: dict[str, Any] = {}

    def fake_load(source: str, adapters: dict[str, str], **kw: Any) -> Engine:
        seen.update(source=source, adapters=adapters, **kw)
        return _Fake(models={}, max_model_len=16, name="fake")

    def fake_run(self: Any, sockets: Any = None) -> None:
        seen["listening"] = sockets[0].getsockname()

    monkeypatch.setattr(backends, "load_engine", fake_load)
    monkeypatch.setattr(uvicorn.Server, "run", fake_run)
    monkeypatch.delenv("FTCORE_API_KEY", raising=False)
    return seen


def test_binding_beyond_localhost_warns_without_a_key(no_server: dict[str, Any], capsys: Any,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["serve", "ckpt", "--host", "0.0.0.0", "--port", "0", "--adapter", "b=ckpt-b"]) == 0
    err = capsys.readouterr().err
    assert "warning: serving on 0.0.0.0 without an API key" in err
    assert no_server["listening"][0] == "0.0.0.0" and no_server["adapters"] == {"b": "ckpt-b"}
    assert _Fake.closed
    assert main(["serve", "ckpt", "--host", "0.0.0.0", "--port", "0", "--api-key", "sk-secret-1"]) == 0
    err = capsys.readouterr().err
    assert "warning" not in err and "sk-secret-1" not in err and "API key required" in err
    monkeypatch.setenv("FTCORE_API_KEY", "sk-secret-2")
    assert main(["serve", "ckpt", "--host", "0.0.0.0", "--port", "0"]) == 0
    err = capsys.readouterr().err
    assert "warning" not in err and "sk-secret-2" not in err and "API key required" in err


def test_default_host_is_localhost(no_server: dict[str, Any], capsys: Any) -> None:
    assert main(["serve", "ckpt", "--port", "0"]) == 0
    assert no_server["listening"][0] == "127.0.0.1"
    assert "warning" not in capsys.readouterr().err


def test_missing_serve_extra_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.setitem(__import__("sys").modules, "fastapi", None)
    assert main(["serve", "ckpt"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: ftcore serve needs an optional dependency: pip install 'ftcore[serve]'"]


def test_vllm_backend_without_vllm_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.setitem(__import__("sys").modules, "vllm", None)
    assert main(["serve", "ckpt", "--backend", "vllm"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--backend vllm needs vLLM" in err[0] and "pip install vllm" in err[0]


@pytest.mark.parametrize("value", ["b", "=ckpt", "b=", "b:ckpt"])
def test_bad_adapter_flag(value: str, capsys: Any) -> None:
    assert main(["serve", "ckpt", "--adapter", value]) == 2
    assert "write NAME=CKPT" in capsys.readouterr().err


def test_resolving_checkpoints_models_and_adapters(checkpoints: tuple[Path, Path], tmp_path: Path) -> None:
    from ftcore.serve.models import parse_adapters, resolve_all, resolve_target

    a, b = checkpoints
    for text in (str(a), str(a.parent), f"best:{a.parent.parent.parent}"):
        t = resolve_target(text)
        assert t.adapter_dir == str(a) and t.cfg.model.name == "ftcore-tiny-qwen2"
    model = resolve_target("ftcore-tiny-qwen2")
    assert model.adapter_dir is None and model.model_dir == resolve_target(str(a)).model_dir
    assert resolve_target(model.model_dir).adapter_dir is None  # a model folder
    main_t, extra = resolve_all("ftcore-tiny-qwen2", {"x": str(a), "y": str(b)})
    assert list(extra) == ["x", "y"] and main_t.adapter_dir is None
    with pytest.raises(FtcoreError, match="neither a checkpoint"):
        resolve_target("no-such-model")
    with pytest.raises(FtcoreError, match="given twice"):
        parse_adapters(["x=1", "x=2"])
    other = tmp_path / "other-base"
    shutil.copytree(b, other / "checkpoint-1")
    run = (other / "checkpoint-1" / "ftcore_run.toml").read_text()
    base = tmp_path / "some-model"
    base.mkdir()
    (other / "checkpoint-1" / "ftcore_run.toml").write_text(
        run.replace('name = "ftcore-tiny-qwen2"', f"path = {json.dumps(str(base))}"))
    with pytest.raises(FtcoreError, match="adapters must share the base model"):
        resolve_all(str(a), {"z": str(other / "checkpoint-1")})
    with pytest.raises(FtcoreError, match="not a LoRA checkpoint"):
        resolve_all(str(a), {"m": "ftcore-tiny-qwen2"})
