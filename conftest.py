"""Test-wide guards for the core's and the plugins' tests.

* No network: any socket connection to a non-loopback address fails the test (tests use local folders,
  pre-filled hub caches and tiny models only).
* Hub caches point into a per-session temporary folder, so tests never read or write the user's caches.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import tempfile

import pytest

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_create_connection = socket.create_connection


class NetworkAccessError(AssertionError):
    """A test tried to reach the network."""


def _is_loopback(address: object) -> bool:
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
        return False  # a host name other than localhost would need DNS


def _guarded_connect(self: socket.socket, address: object):  # type: ignore[no-untyped-def]
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
        raise NetworkAccessError(f"tests must not use the network (tried to connect to {address!r})")
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: object):  # type: ignore[no-untyped-def]
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
        raise NetworkAccessError(f"tests must not use the network (tried to connect to {address!r})")
    return _real_connect_ex(self, address)


def _install_guard() -> None:
    """Guard whatever class ``socket.socket`` is now (a library may have replaced or re-patched it)."""
    cls = socket.socket
    if getattr(cls, "connect", None) is not _guarded_connect:
        cls.connect = _guarded_connect  # type: ignore[method-assign]
    if getattr(cls, "connect_ex", None) is not _guarded_connect_ex:
        cls.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]


_install_guard()


@pytest.fixture(autouse=True)
def _network_guard() -> None:
    """Re-apply the guard before every test: imports during earlier tests may have replaced it."""
    _install_guard()

_cache_root = tempfile.mkdtemp(prefix="ftcore-test-cache-")
for _var, _sub in (
    ("HF_HOME", "hf"),
    ("MODELSCOPE_CACHE", "modelscope"),
    ("FTCORE_CACHE", "ftcore"),
):
    os.environ.setdefault(_var, os.path.join(_cache_root, _sub))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")

