"""Run the operations app on a TCP port, next to the engine, with a safe default binding."""

from __future__ import annotations

import ipaddress
import os

from aiohttp import web

TOKEN_ENV = "DAGGER_TOKEN"


class UnsafeBinding(ValueError):
    """Serving beyond loopback without a token would expose instances and state to anyone."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


def resolve_token(given: str | None) -> str | None:
    """The token from the flag, else from DAGGER_TOKEN; empty counts as none."""
    token = given if given is not None else os.environ.get(TOKEN_ENV)
    return token or None


def check_binding(host: str, token: str | None) -> None:
    """Raise UnsafeBinding when `host` is not loopback and no token protects the API."""
    if not token and not is_loopback(host):
        raise UnsafeBinding(
            f"refusing to serve on {host} without a token: pass --token or set {TOKEN_ENV}, "
            "or bind 127.0.0.1"
        )


class HttpServer:
    """The app bound to `host:port` (port 0 picks a free one); `start`/`close`, or `async with`."""

    def __init__(self, app: web.Application, host: str = "127.0.0.1", port: int = 8080) -> None:
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=5.0)
        self._host = host
        self._port = port
        self._site: web.TCPSite | None = None

    @property
    def port(self) -> int:
        """The bound port (the real one when started with port 0)."""
        addresses = self._runner.addresses if self._site is not None else []
        if not addresses:
            return self._port
        port: int = addresses[0][1]
        return port

    @property
    def url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, self._host, self._port)
        await self._site.start()

    async def close(self) -> None:
        """Stop accepting, end open streams, wait briefly for requests in flight. Idempotent."""
        if self._site is None:
            return
        self._site = None
        await self._runner.cleanup()

    async def __aenter__(self) -> HttpServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
