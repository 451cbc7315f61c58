"""KafkaConsumer commits on its own schedule: `commit(records)` marks them processed, and the marks
reach the group every `commit_interval_ms`, on a rebalance and on close. Against a real Apache
Kafka: `make kafka-up`, then `DAGGER_KAFKA_BOOTSTRAP=127.0.0.1:9092 pytest <this file>`.

Topics outlive a test, so every test uses topic and group names of its own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from runtime.backends.kafka import KafkaBroker
from runtime.types import MESSAGE_ID_HEADER, Incoming, Outgoing

from .support import BOOTSTRAP, KAFKA, drain, quiet, started

pytestmark = KAFKA

A_MINUTE_MS = 60_000  # an interval no test waits for: what is committed came from elsewhere


async def open_broker(commit_interval_ms: int) -> KafkaBroker:
    broker = KafkaBroker(BOOTSTRAP, client_id="dagger-tests", commit_interval_ms=commit_interval_ms)
    await broker.start()
    return broker


@pytest.fixture
async def slow() -> AsyncIterator[KafkaBroker]:
    """A broker whose consumers commit once a minute (so only revokes and closes commit)."""
    broker = await open_broker(A_MINUTE_MS)
    try:
        yield broker
    finally:
        await broker.close()


async def fill(broker: KafkaBroker, topic: str, count: int) -> None:
    await broker.ensure_topics([topic])
    await broker.send(
        [
            Outgoing(topic, f"k{n}", str(n).encode(), ((MESSAGE_ID_HEADER, str(n).encode()),))
            for n in range(count)
        ]
    )


async def committed(group: str) -> dict[tuple[str, int], int]:
    """The group's committed offsets, as the broker has them."""
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items()}


def next_offsets(records: Sequence[Incoming]) -> dict[tuple[str, int], int]:
    """What committing `records` should leave: offset + 1 of the highest, per partition."""
    wanted: dict[tuple[str, int], int] = {}
    for r in records:
        tp = (r.topic, r.partition)
        wanted[tp] = max(wanted.get(tp, 0), r.offset + 1)
    return wanted


async def test_marks_reach_the_group_within_the_interval(names: Callable[[str], str]) -> None:
    topic, group = names("marks"), names("group")
    broker = await open_broker(commit_interval_ms=100)
    try:
        await fill(broker, topic, 20)
        consumer = await started(broker, group, [topic])
        try:
            records = await drain(consumer, 20)
            await consumer.commit(records)
            deadline = time.monotonic() + 10
            while (seen := await committed(group)) != next_offsets(records):
                assert time.monotonic() < deadline, f"committed {seen} while still open"
                await asyncio.sleep(0.1)
        finally:
            await consumer.close()
    finally:
        await broker.close()


async def test_close_commits_the_marks_the_interval_has_not(
    slow: KafkaBroker, names: Callable[[str], str]
) -> None:
    topic, group = names("closing"), names("group")
    await fill(slow, topic, 12)
    first = await started(slow, group, [topic])
    try:
        records = await drain(first, 12)
        done = [r for r in records if int(r.value) % 3 != 0]  # some of each partition
        await first.commit(done)
        await asyncio.sleep(0.3)
        assert await committed(group) == {}  # only marked so far: no request per commit()
    finally:
        await first.close()
    assert await committed(group) == next_offsets(done)
    second = await started(slow, group, [topic])
    try:
        again = await quiet(second, 2.0)
    finally:
        await second.close()
    redelivered = {(r.partition, r.offset) for r in again}
    wanted = {
        (r.partition, r.offset)
        for r in records
        if r.offset >= next_offsets(done).get((r.topic, r.partition), 0)
    }
    assert redelivered == wanted  # everything after each partition's last mark, nothing before


async def test_a_rebalance_commits_the_marks_before_partitions_move(
    slow: KafkaBroker, names: Callable[[str], str]
) -> None:
    topic, group = names("moving"), names("group")
    await fill(slow, topic, 40)
    first = await started(slow, group, [topic])
    try:
        records = await drain(first, 40)
        await first.commit(records)
        # the group rebalances: `first` gives up some partitions
        second = await started(slow, group, [topic])
        try:
            assert await quiet(second) == []  # they were committed on the way
        finally:
            await second.close()
    finally:
        await first.close()
    assert await committed(group) == next_offsets(records)


async def test_commit_after_close_is_an_error(
    slow: KafkaBroker, names: Callable[[str], str]
) -> None:
    topic = names("closed")
    await slow.ensure_topics([topic])
    consumer = await started(slow, names("group"), [topic])
    await consumer.close()
    with pytest.raises(RuntimeError, match="not started"):
        await consumer.commit([])
