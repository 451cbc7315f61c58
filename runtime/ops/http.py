"""The operations HTTP API and web page, served by aiohttp inside the engine's process.

Why aiohttp: it is asyncio-native like the engine, so one process and one event loop run the
workers and the HTTP server side by side, with no thread hand-off and no extra ASGI server to
install or supervise. Handlers await the same engine object the workers use.

Routes (JSON errors are `{"error": "...", "detail": ...}` with a 4xx status):

    GET  /healthz                    the process is up
    GET  /readyz                     the engine is started and its store answers (503 otherwise)
    GET  /api/workflows              compiled workflows: version, mermaid graph, node table
    GET  /api/instances              ?workflow=&status=&limit=&cursor= -> {"items", "next"}
    GET  /api/instances/{id}         status, state (the workflow's encoder), every node's run
    POST /api/workflows/{name}/instances   body: the state as JSON -> 201 {"id"} (200 if it existed)
    POST /api/instances/{id}/cancel  -> 200 {"id", "status"} (409 when already finished)
    POST /api/topics/{topic}         body: a message as JSON -> 202
    GET  /api/updates                server-sent events: one per instance status change
    GET  /metrics                    Prometheus text format
    GET  /                           the web page (static files under /static/)

With a token, `/api/*` and `/metrics` need `Authorization: Bearer <token>`; the health checks
and the static page (which holds no data) stay open. `http_server.check_binding` refuses to
serve beyond loopback without a token.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from runtime.ops import routes
from runtime.ops.errors import ApiError, json_error
from runtime.ops.metrics import Metrics
from runtime.ops.source import OpsSource
from runtime.ops.updates import UpdateStream

_log = logging.getLogger("dagger.ops.http")

PAGE_DIR = Path(__file__).parent / "page"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _protected(path: str) -> bool:
    return path.startswith("/api/") or path == "/metrics"


def _auth_middleware(token: str) -> Any:
    expected = f"Bearer {token}".encode()

    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if _protected(request.path):
            given = request.headers.get("Authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                raise ApiError(
                    401,
                    "missing or wrong bearer token",
                    "send 'Authorization: Bearer <token>' as given to daggerc serve --token",
                    headers={"WWW-Authenticate": 'Bearer realm="dagger"'},
                )
        return await handler(request)

    return auth


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return json_error(exc.status, exc.error, exc.detail, exc.headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return json_error(exc.status, exc.reason, f"{request.method} {request.path}")
    except Exception:
        _log.exception("%s %s failed", request.method, request.path)
        return json_error(500, "internal error", "see the server log")


async def _revalidate(request: web.Request, response: web.StreamResponse) -> None:
    """The page's files are small: have browsers revalidate them, so an upgrade shows at once."""
    if request.path == "/" or request.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-cache"


async def _page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(PAGE_DIR / "index.html")


def create_app(
    source: OpsSource,
    *,
    metrics: Metrics | None = None,
    updates: UpdateStream | None = None,
    token: str | None = None,
) -> web.Application:
    """The aiohttp application over `source`; `token` turns on bearer authentication."""
    middlewares: list[Any] = [_errors]
    if token:
        middlewares.append(_auth_middleware(token))
    app = web.Application(middlewares=middlewares)
    api = routes.Api(source, metrics if metrics is not None else Metrics(), updates)
    app.on_shutdown.append(api.shutdown)
    app.on_response_prepare.append(_revalidate)
    app.add_routes(
        [
            web.get("/healthz", api.healthz),
            web.get("/readyz", api.readyz),
            web.get("/api/workflows", api.workflows),
            web.get("/api/instances", api.instances),
            web.get("/api/instances/{id}", api.instance),
            web.post("/api/workflows/{name}/instances", api.start),
            web.post("/api/instances/{id}/cancel", api.cancel),
            web.post("/api/topics/{topic}", api.send),
            web.get("/api/updates", api.stream),
            web.get("/metrics", api.metrics),
            web.get("/", _page),
            web.static("/static", PAGE_DIR),
        ]
    )
    return app
