"""Handlers of the operations API: parse and check the request, call the source, answer JSON."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson
from aiohttp import web

from runtime.engine_api import RunStatus, UnreadableRunError
from runtime.ops.errors import ApiError, json_response
from runtime.ops.metrics import CONTENT_TYPE, Metrics
from runtime.ops.source import OpsSource
from runtime.ops.updates import StatusUpdate, UpdateStream
from runtime.ops.views import (
    BadCursor,
    decode_cursor,
    encode_cursor,
    instance_json,
    summary_json,
    workflow_json,
)
from runtime.types import JSON, CompiledWorkflow, Status, TopicSpec

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
_KEEPALIVE = 15.0  # seconds between comments on an idle event stream


def _status_param(raw: str | None) -> str | None:
    if not raw:
        return None
    try:
        return Status(raw.upper()).value
    except ValueError:
        raise ApiError(
            400, "unknown status", {"got": raw, "expected": [s.value for s in Status]}
        ) from None


def _limit_param(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise ApiError(
            400, "bad limit", f"limit must be an integer from 1 to {MAX_LIMIT} (got {raw!r})"
        )
    return int(raw)


async def _json_body(request: web.Request) -> tuple[bytes, JSON]:
    body = await request.read()
    try:
        value: JSON = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "bad JSON", f"request body is not JSON: {exc}") from None
    return body, value


class Api:
    """The route handlers, bound to one source, metrics registry and update stream."""

    def __init__(self, source: OpsSource, metrics: Metrics, updates: UpdateStream | None) -> None:
        self._source = source
        self._metrics = metrics
        self._updates = updates
        self._closing = asyncio.Event()

    # ------------------------------------------------------------------ lookups

    def _workflow(self, name: str) -> CompiledWorkflow[Any]:
        for workflow in self._source.workflows:
            if workflow.name == name:
                return workflow
        known: list[JSON] = [w.name for w in sorted(self._source.workflows, key=lambda w: w.name)]
        raise ApiError(404, "unknown workflow", {"got": name, "known": known})

    def _topic(self, name: str) -> TopicSpec[Any]:
        topics = {t.name: t for w in self._source.workflows for t in w.topics}
        if name not in topics:
            known: list[JSON] = [t for t in sorted(topics)]
            raise ApiError(404, "unknown topic", {"got": name, "known": known})
        return topics[name]

    async def _instance(self, instance_id: str) -> RunStatus[Any]:
        try:
            instance = await self._source.status(instance_id)
        except UnreadableRunError as exc:
            raise ApiError(
                409, "unreadable instance", {"id": instance_id, "why": str(exc)}
            ) from exc
        if instance is None:
            raise ApiError(404, "unknown instance", {"id": instance_id})
        return instance

    # ------------------------------------------------------------------ health

    async def healthz(self, request: web.Request) -> web.Response:
        return json_response({"status": "ok"})

    async def readyz(self, request: web.Request) -> web.Response:
        problem = await self._source.ready()
        if problem is not None:
            return json_response({"error": "not ready", "detail": problem}, 503)
        return json_response({"status": "ready"})

    async def metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=self._metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    # ------------------------------------------------------------------ reading

    async def workflows(self, request: web.Request) -> web.Response:
        items: list[JSON] = [workflow_json(w) for w in self._source.workflows]
        return json_response({"items": items})

    async def instances(self, request: web.Request) -> web.Response:
        query = request.query
        workflow = query.get("workflow") or None
        if workflow is not None:
            self._workflow(workflow)
        status = _status_param(query.get("status"))
        limit = _limit_param(query.get("limit"))
        cursor = query.get("cursor") or None
        try:
            inner = decode_cursor(cursor, workflow, status) if cursor else None
            page = await self._source.list(workflow, status, limit, inner)
        except (BadCursor, ValueError) as exc:
            raise ApiError(400, "bad cursor", str(exc)) from None
        following = encode_cursor(page.next, workflow, status) if page.next else None
        items: list[JSON] = [summary_json(s) for s in page.items]
        return json_response({"items": items, "next": following})

    async def instance(self, request: web.Request) -> web.Response:
        instance = await self._instance(request.match_info["id"])
        return json_response(instance_json(instance, self._workflow(instance.workflow)))

    # ------------------------------------------------------------------ writing

    async def start(self, request: web.Request) -> web.Response:
        workflow = self._workflow(request.match_info["name"])
        _, body = await _json_body(request)
        try:
            state = workflow.decode_state(body)
        except (ValueError, TypeError, KeyError) as exc:
            raise ApiError(400, f"invalid state for workflow {workflow.name}", str(exc)) from None
        run = await self._source.start(workflow, state)
        answer: JSON = {"id": run.id, "workflow": run.workflow, "created": run.created}
        location = {"Location": f"/api/instances/{run.id}"}
        return json_response(answer, 201 if run.created else 200, location)

    async def cancel(self, request: web.Request) -> web.Response:
        instance = await self._instance(request.match_info["id"])
        if Status(instance.status).finished:
            raise ApiError(
                409, "instance already finished", {"id": instance.id, "status": instance.status}
            )
        try:
            after = await self._source.cancel(instance.id)
        except LookupError:
            raise ApiError(404, "unknown instance", {"id": instance.id}) from None
        return json_response({"id": instance.id, "status": Status(after).value})

    async def send(self, request: web.Request) -> web.Response:
        topic = self._topic(request.match_info["topic"])
        raw, _ = await _json_body(request)
        try:
            message = topic.decode(raw)
        except (ValueError, TypeError, KeyError) as exc:
            raise ApiError(400, f"invalid message for topic {topic.name}", str(exc)) from None
        await self._source.send(topic, message)
        return json_response({"topic": topic.name, "key": topic.key(message)}, 202)

    # ------------------------------------------------------------------ live updates

    async def stream(self, request: web.Request) -> web.StreamResponse:
        if self._updates is None:
            raise ApiError(404, "no update stream", "this server was started without one")
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        async with self._updates.listen() as queue:
            with contextlib.suppress(ConnectionResetError):
                await response.write(b": connected\n\n")
                while not self._closing.is_set():
                    update = await _next_update(queue, self._closing)
                    if update is None:
                        await response.write(b": keepalive\n\n")
                    else:
                        await response.write(b"data: " + update.to_json() + b"\n\n")
        return response

    async def shutdown(self, app: web.Application) -> None:
        """End open event streams so the server can stop without waiting for clients."""
        self._closing.set()


async def _next_update(
    queue: asyncio.Queue[StatusUpdate], closing: asyncio.Event
) -> StatusUpdate | None:
    """The next update; None after a quiet keepalive period or when the server is closing."""
    getter = asyncio.ensure_future(queue.get())
    closer = asyncio.ensure_future(closing.wait())
    done, pending = await asyncio.wait(
        {getter, closer}, timeout=_KEEPALIVE, return_when=asyncio.FIRST_COMPLETED
    )
    for task in pending:
        task.cancel()
    return getter.result() if getter in done else None
