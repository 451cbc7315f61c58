"""Timed ports: every store and broker call is measured, and results pass through unchanged."""

from __future__ import annotations

from runtime.backends.memory import MemoryBroker, MemoryStore
from runtime.ops.metrics import Metrics
from runtime.ops.timing import timed
from runtime.types import DueTimer, Outgoing, StoredInstance

from .test_ops_signals import samples


async def test_timed_ports_report_each_operation_and_behave_like_the_ports() -> None:
    metrics = Metrics()
    broker, store = timed(MemoryBroker(), MemoryStore(), metrics)
    await broker.start()
    await store.start()
    record = StoredInstance("W:1", "W", "EXECUTING", b"{}")
    generation = await store.put(record, 0)
    assert generation is not None
    assert await store.put(record, 0) is None  # compare-and-set still refuses a stale write
    got = await store.get("W:1")
    assert got is not None and got.data == b"{}"
    await store.add_timer(DueTimer("W:1", "t1", 5.0))
    assert [t.timer_id for t in await store.due_timers(10.0, 10)] == ["t1"]
    await broker.ensure_topics(["T"])
    await broker.send([Outgoing("T", "k", b"v")])
    consumer = broker.consumer("g", ["T"])
    await consumer.start()
    records = await consumer.fetch(10, 1.0)
    await consumer.commit(records)
    await consumer.close()
    assert [r.value for r in records] == [b"v"]
    counts = {
        labels[0][1]: value
        for (name, labels), value in samples(metrics).items()
        if name in ("dagger_store_seconds_count", "dagger_broker_seconds_count")
    }
    assert counts == {"put": 2, "get": 1, "add_timer": 1, "due_timers": 1, "send": 1, "commit": 1}
