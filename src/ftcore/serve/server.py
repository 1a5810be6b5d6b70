"""Running the app with uvicorn: in the foreground (``ftcore serve``) or on a background thread (tests, the benchmark).

The default host is 127.0.0.1: binding any other address needs an explicit ``--host``, and without an API key it
prints a warning, since anyone who reaches the port can then use the model.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from ftcore.errors import FtcoreError

if TYPE_CHECKING:  # pragma: no cover
    from ftcore.serve.engine import Engine

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
#: the environment variable ``ftcore serve`` reads the API key from when ``--api-key`` is not given
API_KEY_ENV = "FTCORE_API_KEY"


def is_local(host: str) -> bool:
    """True for a loopback address (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str, api_key: str | None) -> str | None:
    """The warning to print when the server listens beyond this machine without an API key, else None."""
    if is_local(host) or api_key:
        return None
    return (f"serving on {host} without an API key: anyone who can reach this port can use the model; "
            f"set --api-key or {API_KEY_ENV}")


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: a free one); FtcoreError when the address is taken."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise FtcoreError(f"--host {host} --port {port}: cannot listen there ({exc.strerror or exc}); "
                          "choose another --port") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _config(app: Any, log_level: str) -> Any:
    import uvicorn

    return uvicorn.Config(app, log_level=log_level, access_log=log_level in ("info", "debug"),
                          timeout_graceful_shutdown=2)


def run_server(engine: Engine, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, api_key: str | None = None,
               log_level: str = "info") -> None:
    """Serve ``engine`` until interrupted (the foreground of ``ftcore serve``)."""
    import uvicorn

    from ftcore.serve.app import create_app

    warning = exposure_warning(host, api_key)
    if warning:
        print(f"warning: {warning}", file=sys.stderr, flush=True)
    sock = bind(host, port)
    names = ", ".join(engine.models)
    shown = f"[{host}]" if ":" in host else host
    print(f"ftcore serve: {names} on http://{shown}:{sock.getsockname()[1]}/v1 ({engine.name} backend"
          f"{', API key required' if api_key else ''})", file=sys.stderr, flush=True)
    try:
        uvicorn.Server(_config(create_app(engine, api_key=api_key), log_level)).run(sockets=[sock])
    finally:
        engine.close()


class ServerThread:
    """The app on ``127.0.0.1`` (a free port) on a background thread: ``with ServerThread(engine) as s: s.url``."""

    def __init__(self, engine: Engine, *, api_key: str | None = None, host: str = "127.0.0.1", port: int = 0,
                 log_level: str = "warning"):
        import uvicorn

        from ftcore.serve.app import create_app

        self.engine = engine
        self.sock = bind(host, port)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://{host}:{self.port}"
        self.server = uvicorn.Server(_config(create_app(engine, api_key=api_key), log_level))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       name="ftcore-serve", daemon=True)

    def start(self, timeout: float = 30) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
