"""`memory://`: a real in-process Broker and Store, for tests and single-process experiments.

Nothing survives the process. Semantics match the SQLite and Kafka backends and are pinned by
`tests/conformance/`: topics have one partition; within a consumer group one member owns a topic at
a time (the first to ask; the next takes over when it closes); a new group starts at the earliest
message; compare-and-set by generation; lists ordered by id with the last id as the cursor.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence

import attrs

from runtime.types import (
    DueTimer,
    EarlyMessage,
    Incoming,
    Outgoing,
    Page,
    StoredInstance,
)


class Notifier:
    """Wakes every coroutine waiting for new messages. Bound to no loop until first used."""

    def __init__(self) -> None:
        self._waiters: set[asyncio.Future[None]] = set()

    def notify(self) -> None:
        for fut in self._waiters:
            if not fut.done():
                fut.set_result(None)
        self._waiters.clear()

    async def wait(self, timeout: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(fut)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(fut, timeout)
        finally:
            self._waiters.discard(fut)


class MemoryBroker:
    """Append-only logs per topic, committed offsets per (group, topic)."""

    max_message_bytes: int | None = None

    def __init__(self) -> None:
        self._logs: dict[str, list[Incoming]] = {}
        self._committed: dict[tuple[str, str], int] = {}
        self._owners: dict[tuple[str, str], MemoryConsumer] = {}
        self._notifier = Notifier()

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._notifier.notify()

    async def ensure_topics(self, topics: Sequence[str]) -> None:
        for name in topics:
            self._logs.setdefault(name, [])

    async def send(self, messages: Sequence[Outgoing]) -> None:
        for m in messages:
            log = self._logs.setdefault(m.topic, [])
            log.append(Incoming(m.topic, m.key, m.value, m.headers, 0, len(log)))
        if messages:
            self._notifier.notify()

    def consumer(self, group: str, topics: Sequence[str]) -> MemoryConsumer:
        return MemoryConsumer(self, group, tuple(topics))

    # ------------------------------------------------------------------ for MemoryConsumer

    def _claim(self, member: MemoryConsumer, topic: str) -> bool:
        owner = self._owners.setdefault((member.group, topic), member)
        return owner is member

    def _release(self, member: MemoryConsumer) -> None:
        for slot in [s for s, owner in self._owners.items() if owner is member]:
            del self._owners[slot]
        self._notifier.notify()

    def _read(self, topic: str, position: int, limit: int) -> list[Incoming]:
        return self._logs.get(topic, [])[position : position + limit]

    def _commit(self, group: str, topic: str, next_offset: int) -> None:
        slot = (group, topic)
        self._committed[slot] = max(self._committed.get(slot, 0), next_offset)

    def _committed_offset(self, group: str, topic: str) -> int:
        return self._committed.get((group, topic), 0)


class MemoryConsumer:
    """One member of a consumer group; reads from its own position, commits explicitly."""

    def __init__(self, broker: MemoryBroker, group: str, topics: tuple[str, ...]) -> None:
        self._broker = broker
        self.group = group
        self._topics = topics
        self._positions: dict[str, int] = {}
        self._closed = False

    async def start(self) -> None:
        self._closed = False

    def _owned(self) -> list[str]:
        owned = []
        for topic in self._topics:
            if self._broker._claim(self, topic):
                if topic not in self._positions:
                    self._positions[topic] = self._broker._committed_offset(self.group, topic)
                owned.append(topic)
        return owned

    def _poll(self, max_records: int) -> list[Incoming]:
        found: list[Incoming] = []
        for topic in self._owned():
            batch = self._broker._read(topic, self._positions[topic], max_records - len(found))
            if batch:
                self._positions[topic] = batch[-1].offset + 1
                found.extend(batch)
            if len(found) >= max_records:
                break
        return found

    async def fetch(self, max_records: int, timeout: float) -> Sequence[Incoming]:
        deadline = time.monotonic() + timeout
        while not self._closed:
            found = self._poll(max_records)
            remaining = deadline - time.monotonic()
            if found or remaining <= 0:
                return found
            await self._broker._notifier.wait(remaining)
        return []

    async def commit(self, records: Sequence[Incoming]) -> None:
        last: dict[str, int] = {}
        for r in records:
            last[r.topic] = max(last.get(r.topic, -1), r.offset)
        for topic, offset in last.items():
            self._broker._commit(self.group, topic, offset + 1)

    async def close(self) -> None:
        self._closed = True
        self._positions.clear()
        self._broker._release(self)


class MemoryStore:
    """Instances, the correlation index, timers and early messages in dictionaries."""

    def __init__(self) -> None:
        self._instances: dict[str, StoredInstance] = {}
        self._waits: dict[tuple[str, str], set[str]] = {}
        self._timers: dict[tuple[str, str], DueTimer] = {}
        self._early: dict[tuple[str, str], dict[str, EarlyMessage]] = {}

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def get(self, instance_id: str) -> StoredInstance | None:
        return self._instances.get(instance_id)

    async def put(self, record: StoredInstance, expected_generation: int) -> int | None:
        current = self._instances.get(record.id)
        generation = current.generation if current is not None else 0
        if generation != expected_generation:
            return None
        self._instances[record.id] = attrs.evolve(record, generation=generation + 1)
        return generation + 1

    async def list(
        self, workflow: str | None, status: str | None, limit: int, cursor: str | None
    ) -> Page:
        chosen = sorted(
            r
            for r in self._instances
            if (cursor is None or r > cursor)
            and (workflow is None or self._instances[r].workflow == workflow)
            and (status is None or self._instances[r].status == status)
        )
        items = tuple(self._instances[i] for i in chosen[:limit])
        more = len(chosen) > limit and bool(items)
        return Page(items, items[-1].id if more else None)

    async def with_outbox(self, limit: int) -> Sequence[str]:
        return sorted(i for i, r in self._instances.items() if r.outbox)[:limit]

    async def add_wait(self, topic: str, key: str, instance_id: str) -> None:
        self._waits.setdefault((topic, key), set()).add(instance_id)

    async def remove_wait(self, topic: str, key: str, instance_id: str) -> None:
        ids = self._waits.get((topic, key))
        if ids is not None:
            ids.discard(instance_id)
            if not ids:
                del self._waits[(topic, key)]

    async def waiters(self, topic: str, key: str) -> Sequence[str]:
        return sorted(self._waits.get((topic, key), ()))

    async def add_timer(self, timer: DueTimer) -> None:
        self._timers[(timer.instance_id, timer.timer_id)] = timer

    async def remove_timer(self, instance_id: str, timer_id: str) -> None:
        self._timers.pop((instance_id, timer_id), None)

    async def due_timers(self, now: float, limit: int) -> Sequence[DueTimer]:
        due = [t for t in self._timers.values() if t.due <= now]
        due.sort(key=lambda t: (t.due, t.instance_id, t.timer_id))
        return due[:limit]

    async def next_due(self) -> float | None:
        return min((t.due for t in self._timers.values()), default=None)

    async def add_early(self, message: EarlyMessage) -> None:
        kept = self._early.setdefault((message.topic, message.key), {})
        kept.setdefault(message.message_id, message)

    async def take_early(self, topic: str, key: str) -> Sequence[EarlyMessage]:
        now = time.time()
        kept = self._early.get((topic, key), {})
        return [m for m in kept.values() if m.expires_at > now]

    async def remove_early(self, topic: str, key: str, message_id: str) -> None:
        kept = self._early.get((topic, key))
        if kept is not None:
            kept.pop(message_id, None)
            if not kept:
                del self._early[(topic, key)]

    async def purge(self, now: float) -> int:
        count = 0
        for slot, kept in list(self._early.items()):
            for mid in [m for m, msg in kept.items() if msg.expires_at <= now]:
                del kept[mid]
                count += 1
            if not kept:
                del self._early[slot]
        expired = [
            i
            for i, r in self._instances.items()
            if r.expires_at is not None and r.expires_at <= now
        ]
        for i in expired:
            del self._instances[i]
        return count + len(expired)
