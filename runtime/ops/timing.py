"""Store and broker latency without touching a backend: ports that time the port they wrap.

`timed(broker, store, observer)` returns the same ports, each call reported to
`observer.on_store(operation, seconds)` / `observer.on_broker(operation, seconds)`, so the
engine gets `dagger_store_seconds` and `dagger_broker_seconds` with one line where it opens
its backends. A consumer's `fetch` is a long poll (it waits for messages), so only `commit`
is timed on the consume side.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from runtime.ops.hooks import EngineObserver
from runtime.types import (
    Broker,
    Consumer,
    DueTimer,
    EarlyMessage,
    Incoming,
    Outgoing,
    Page,
    Store,
    StoredInstance,
)

Observe = Callable[[str, float], None]


@contextmanager
def _timing(observe: Observe, operation: str) -> Iterator[None]:
    began = time.perf_counter()
    try:
        yield
    finally:
        observe(operation, time.perf_counter() - began)


class TimedConsumer:
    def __init__(self, consumer: Consumer, observe: Observe) -> None:
        self._inner, self._observe = consumer, observe

    async def start(self) -> None:
        await self._inner.start()

    async def fetch(self, max_records: int, timeout: float) -> Sequence[Incoming]:
        return await self._inner.fetch(max_records, timeout)

    async def commit(self, records: Sequence[Incoming]) -> None:
        with _timing(self._observe, "commit"):
            await self._inner.commit(records)

    async def close(self) -> None:
        await self._inner.close()


class TimedBroker:
    def __init__(self, broker: Broker, observe: Observe) -> None:
        self._inner, self._observe = broker, observe
        self.max_message_bytes = broker.max_message_bytes

    async def start(self) -> None:
        await self._inner.start()

    async def close(self) -> None:
        await self._inner.close()

    async def ensure_topics(self, topics: Sequence[str]) -> None:
        await self._inner.ensure_topics(topics)

    async def send(self, messages: Sequence[Outgoing]) -> None:
        with _timing(self._observe, "send"):
            await self._inner.send(messages)

    def consumer(self, group: str, topics: Sequence[str]) -> Consumer:
        return TimedConsumer(self._inner.consumer(group, topics), self._observe)


class TimedStore:
    def __init__(self, store: Store, observe: Observe) -> None:
        self._inner, self._observe = store, observe

    async def start(self) -> None:
        await self._inner.start()

    async def close(self) -> None:
        await self._inner.close()

    async def get(self, instance_id: str) -> StoredInstance | None:
        with _timing(self._observe, "get"):
            return await self._inner.get(instance_id)

    async def put(self, record: StoredInstance, expected_generation: int) -> int | None:
        with _timing(self._observe, "put"):
            return await self._inner.put(record, expected_generation)

    async def list(
        self, workflow: str | None, status: str | None, limit: int, cursor: str | None
    ) -> Page:
        with _timing(self._observe, "list"):
            return await self._inner.list(workflow, status, limit, cursor)

    async def with_outbox(self, limit: int) -> Sequence[str]:
        with _timing(self._observe, "with_outbox"):
            return await self._inner.with_outbox(limit)

    async def add_wait(self, topic: str, key: str, instance_id: str) -> None:
        with _timing(self._observe, "add_wait"):
            await self._inner.add_wait(topic, key, instance_id)

    async def remove_wait(self, topic: str, key: str, instance_id: str) -> None:
        with _timing(self._observe, "remove_wait"):
            await self._inner.remove_wait(topic, key, instance_id)

    async def waiters(self, topic: str, key: str) -> Sequence[str]:
        with _timing(self._observe, "waiters"):
            return await self._inner.waiters(topic, key)

    async def add_timer(self, timer: DueTimer) -> None:
        with _timing(self._observe, "add_timer"):
            await self._inner.add_timer(timer)

    async def remove_timer(self, instance_id: str, timer_id: str) -> None:
        with _timing(self._observe, "remove_timer"):
            await self._inner.remove_timer(instance_id, timer_id)

    async def due_timers(self, now: float, limit: int) -> Sequence[DueTimer]:
        with _timing(self._observe, "due_timers"):
            return await self._inner.due_timers(now, limit)

    async def next_due(self) -> float | None:
        with _timing(self._observe, "next_due"):
            return await self._inner.next_due()

    async def add_early(self, message: EarlyMessage) -> None:
        with _timing(self._observe, "add_early"):
            await self._inner.add_early(message)

    async def take_early(self, topic: str, key: str) -> Sequence[EarlyMessage]:
        with _timing(self._observe, "take_early"):
            return await self._inner.take_early(topic, key)

    async def remove_early(self, topic: str, key: str, message_id: str) -> None:
        with _timing(self._observe, "remove_early"):
            await self._inner.remove_early(topic, key, message_id)

    async def purge(self, now: float) -> int:
        with _timing(self._observe, "purge"):
            return await self._inner.purge(now)


def timed(broker: Broker, store: Store, observer: EngineObserver) -> tuple[Broker, Store]:
    """`broker` and `store`, every call reported to `observer`."""
    return TimedBroker(broker, observer.on_broker), TimedStore(store, observer.on_store)
