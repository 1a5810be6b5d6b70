"""``ftcore ui``: the command's address rules and its one-line error without the extra."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from ftcore.cli import main


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """uvicorn.run recorded instead of serving."""
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append({"app": app, **kw}))
    return calls


def test_binds_to_localhost_by_default(served: list[dict[str, Any]], tmp_path: Path, capsys: Any) -> None:
    assert main(["ui", "--dir", str(tmp_path)]) == 0
    assert served[0]["host"] == "127.0.0.1" and served[0]["port"] == 7860
    assert served[0]["app"].state.root == tmp_path.resolve()
    out, err = capsys.readouterr()
    assert "http://127.0.0.1:7860/" in out and "warning" not in err


def test_another_address_needs_host_and_warns(served: list[dict[str, Any]], tmp_path: Path, capsys: Any) -> None:
    assert main(["ui", "--host", "0.0.0.0", "--port", "9000", "--dir", str(tmp_path)]) == 0
    assert (served[0]["host"], served[0]["port"]) == ("0.0.0.0", 9000)
    err = capsys.readouterr().err
    assert err.startswith("warning: ftcore ui listens on 0.0.0.0") and "no login" in err


def test_missing_extra_is_one_line_naming_the_pip_command(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.setitem(sys.modules, "fastapi", None)  # import fastapi -> ImportError
    assert main(["ui"]) == 2
    err = capsys.readouterr().err
    assert err == "error: ftcore ui needs an optional dependency: pip install 'ftcore[ui]'\n"


def test_listed_in_help(capsys: Any) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "ui " in capsys.readouterr().out
