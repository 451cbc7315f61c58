"""The update stream: each instance status change, to in-process callbacks and optionally a topic.

`UpdateStream` is an `EngineObserver`. On each status change it

- calls every callback registered with `subscribe` (synchronously, on the engine's loop);
- feeds every open `listen()` iterator (how the HTTP server streams live updates to pages);
- when built with a broker and a topic, publishes a compact JSON record keyed by instance id,
  e.g. `{"id":"A1","workflow":"OrderWorkflow","status":"COMPLETED","at":1732700000.25}`.

Publishing is best effort and never slows the engine: updates wait in a bounded queue and a
background task sends them in batches; when the broker falls behind by `capacity` updates the
oldest are dropped and counted in `dropped`. Per instance, updates are sent in the order they
happened (one sender, Kafka keeps order per key).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable

import orjson
from attrs import frozen

from runtime.ops.hooks import BaseObserver
from runtime.types import MESSAGE_ID_HEADER, Broker, Outgoing, Status

_log = logging.getLogger("dagger.ops.updates")

DEFAULT_TOPIC = "dagger.updates"
_BATCH = 500


@frozen
class StatusUpdate:
    instance_id: str
    workflow: str
    status: Status
    at: float

    def to_json(self) -> bytes:
        record = {"id": self.instance_id, "workflow": self.workflow}
        return orjson.dumps({**record, "status": self.status.value, "at": round(self.at, 6)})

    def to_outgoing(self, topic: str) -> Outgoing:
        message_id = f"{self.instance_id}:{self.status.value}".encode()
        return Outgoing(topic, self.instance_id, self.to_json(), ((MESSAGE_ID_HEADER, message_id),))


Callback = Callable[[StatusUpdate], None]


def _offer(queue: asyncio.Queue[StatusUpdate], update: StatusUpdate) -> bool:
    """Put without waiting; when full, drop the oldest. True when something was dropped."""
    dropped = False
    if queue.full():
        queue.get_nowait()
        dropped = True
    queue.put_nowait(update)
    return dropped


class UpdateStream(BaseObserver):
    """Status changes for callbacks, live listeners and (optionally) a Kafka topic."""

    def __init__(
        self,
        broker: Broker | None = None,
        topic: str | None = DEFAULT_TOPIC,
        *,
        capacity: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._broker = broker
        self._topic = topic if broker is not None else None
        self._clock = clock
        self._callbacks: list[Callback] = []
        self._listeners: set[asyncio.Queue[StatusUpdate]] = set()
        self._outbox: asyncio.Queue[StatusUpdate] = asyncio.Queue(capacity)
        self._sender: asyncio.Task[None] | None = None
        self.dropped = 0

    @property
    def topic(self) -> str | None:
        return self._topic

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Create the topic and start the sender (nothing to do without a broker)."""
        if self._broker is None or self._topic is None or self._sender is not None:
            return
        await self._broker.ensure_topics([self._topic])
        self._sender = asyncio.create_task(self._send_forever(), name="dagger-updates")

    async def close(self) -> None:
        """Send what is queued, then stop. Idempotent."""
        sender, self._sender = self._sender, None
        if sender is None:
            return
        await self._outbox.join()
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender

    async def _send_forever(self) -> None:
        assert self._broker is not None and self._topic is not None
        while True:
            batch = [await self._outbox.get()]
            while len(batch) < _BATCH and not self._outbox.empty():
                batch.append(self._outbox.get_nowait())
            try:
                await self._broker.send([u.to_outgoing(self._topic) for u in batch])
            except Exception:
                _log.exception("could not publish %d status updates to %s", len(batch), self._topic)
            finally:
                for _ in batch:
                    self._outbox.task_done()

    # ------------------------------------------------------------------ consumers

    def subscribe(self, callback: Callback) -> Callable[[], None]:
        """Call `callback(update)` on each change; returns a function that unsubscribes."""
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback)

    @contextlib.asynccontextmanager
    async def listen(self, capacity: int = 1000) -> AsyncIterator[asyncio.Queue[StatusUpdate]]:
        """A queue receiving every update while the block runs (oldest dropped when full)."""
        queue: asyncio.Queue[StatusUpdate] = asyncio.Queue(capacity)
        self._listeners.add(queue)
        try:
            yield queue
        finally:
            self._listeners.discard(queue)

    # ------------------------------------------------------------------ EngineObserver

    def on_status(self, instance_id: str, workflow: str, status: Status) -> None:
        update = StatusUpdate(instance_id, workflow, Status(status), self._clock())
        for callback in list(self._callbacks):
            try:
                callback(update)
            except Exception:
                _log.exception("status update callback %r failed", callback)
        for queue in self._listeners:
            _offer(queue, update)
        if self._sender is not None and _offer(self._outbox, update):
            self.dropped += 1
            self._outbox.task_done()  # the dropped update will never be marked done by the sender
