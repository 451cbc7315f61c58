"""KafkaBroker against a real Apache Kafka: `make kafka-up`, then
`DAGGER_KAFKA_BOOTSTRAP=127.0.0.1:9092 pytest tests/integration/kafka_backend/test_kafka_broker.py`.

Topics outlive a test, so every test uses topic and group names of its own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from runtime.backends.kafka import KafkaBroker, KafkaConsumer
from runtime.types import MESSAGE_ID_HEADER, Incoming, Outgoing

from .support import BOOTSTRAP, KAFKA, drain, message, quiet, started

pytestmark = KAFKA


def ids(records: Sequence[Incoming]) -> list[bytes]:
    return [r.header(MESSAGE_ID_HEADER) or b"(none)" for r in records]


async def test_round_trip_keeps_key_value_and_headers(
    broker: KafkaBroker, names: Callable[[str], str]
) -> None:
    topic = names("orders")
    await broker.ensure_topics([topic])
    extra = ("traceparent", b"00-abc-def-01")
    await broker.send(
        [Outgoing(topic, "A1", b'{"total": 1250}', ((MESSAGE_ID_HEADER, b"m1"), extra))]
    )
    consumer = await started(broker, names("group"), [topic])
    try:
        [record] = await drain(consumer, 1)
    finally:
        await consumer.close()
    assert (record.topic, record.key, record.value) == (topic, "A1", b'{"total": 1250}')
    assert record.headers == ((MESSAGE_ID_HEADER, b"m1"), extra)
    assert record.header(MESSAGE_ID_HEADER) == b"m1"
    assert record.offset == 0
    assert 0 <= record.partition < 4


async def test_a_key_that_is_not_utf8_is_read_not_raised(
    broker: KafkaBroker, names: Callable[[str], str]
) -> None:
    """Another producer's binary key (the engine's own are text): the record still arrives, so
    the engine can route it by its message or dead-letter it, rather than stop on it."""
    topic = names("binary-keys")
    await broker.ensure_topics([topic])
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"{}", key=b"\xff\xfeA1")
    finally:
        await producer.stop()
    consumer = await started(broker, names("group"), [topic])
    try:
        [record] = await drain(consumer, 1)
    finally:
        await consumer.close()
    assert (record.key, record.value) == ("\ufffd\ufffdA1", b"{}")


async def test_one_key_lands_on_one_partition_in_order(
    broker: KafkaBroker, names: Callable[[str], str]
) -> None:
    topic = names("payments")
    await broker.ensure_topics([topic])
    keys = [f"order-{k}" for k in range(8)]
    for start in range(0, 60, 20):  # several batches
        await broker.send([message(topic, k, n) for n in range(start, start + 20) for k in keys])
    consumer = await started(broker, names("group"), [topic])
    try:
        records = await drain(consumer, 60 * len(keys))
    finally:
        await consumer.close()
    for key in keys:
        mine = [r for r in records if r.key == key]
        assert [r.value for r in mine] == [f"{key}:{n}".encode() for n in range(60)]
        assert len({r.partition for r in mine}) == 1
    assert len({r.partition for r in records}) > 1  # and the keys do spread


async def test_a_new_member_resumes_after_the_committed_offset(
    broker: KafkaBroker, names: Callable[[str], str]
) -> None:
    topic, group = names("shipments"), names("group")
    await broker.ensure_topics([topic])
    await broker.send([message(topic, "S1", n) for n in range(10)])
    first = await started(broker, group, [topic])
    try:
        records = await drain(first, 10)
        await first.commit(records[:6])
        await first.commit(records[:3])  # an older mark never moves the offset back
    finally:
        await first.close()
    second = await started(broker, group, [topic])
    try:
        rest = await drain(second, 4)
        assert await quiet(second) == []
    finally:
        await second.close()
    assert ids(rest) == [f"S1-{n}".encode() for n in range(6, 10)]
    assert [r.offset for r in rest] == [6, 7, 8, 9]


async def test_uncommitted_records_are_delivered_again(
    broker: KafkaBroker, names: Callable[[str], str]
) -> None:
    topic, group = names("invoices"), names("group")
    await broker.ensure_topics([topic])
    await broker.send([message(topic, "I1", n) for n in range(5)])
    first = await started(broker, group, [topic])
    try:
        assert len(await drain(first, 5)) == 5  # processed, never committed: as if it crashed
    finally:
        await first.close()
    second = await started(broker, group, [topic])
    try:
        again = await drain(second, 5)
    finally:
        await second.close()
    assert ids(again) == [f"I1-{n}".encode() for n in range(5)]


async def consume_and_commit(
    consumer: KafkaConsumer, mine: list[Incoming], everyone: list[Incoming], total: int
) -> None:
    """Process (collect) and commit until the members together saw `total` records."""
    deadline = time.monotonic() + 30
    while len(everyone) < total:
        assert time.monotonic() < deadline, f"the group got {len(everyone)} of {total} records"
        batch = await consumer.fetch(50, 0.2)
        mine.extend(batch)
        if mine is not everyone:
            everyone.extend(batch)
        await consumer.commit(batch)


async def test_two_members_split_the_partitions_and_see_each_message_once(
    broker: KafkaBroker, names: Callable[[str], str]
) -> None:
    topic, group = names("events"), names("group")
    await broker.ensure_topics([topic])
    a = await started(broker, group, [topic])
    b = await started(broker, group, [topic])  # returns once the group has rebalanced
    try:
        await broker.send([message(topic, f"k{k}", n) for n in range(10) for k in range(20)])
        seen_a: list[Incoming] = []
        seen_b: list[Incoming] = []
        everyone: list[Incoming] = []
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(consume_and_commit(a, seen_a, everyone, 200))
            tasks.create_task(consume_and_commit(b, seen_b, everyone, 200))
    finally:
        await a.close()
        await b.close()
    assert sorted(ids(everyone)) == sorted(
        f"k{k}-{n}".encode() for n in range(10) for k in range(20)
    )
    assert seen_a and seen_b
    assert not {r.partition for r in seen_a} & {r.partition for r in seen_b}


async def test_a_rebalance_after_commits_neither_loses_nor_repeats(
    broker: KafkaBroker, names: Callable[[str], str]
) -> None:
    topic, group = names("steps"), names("group")
    await broker.ensure_topics([topic])
    await broker.send([message(topic, f"k{k}", n) for n in range(25) for k in range(8)])
    a = await started(broker, group, [topic])
    seen: list[Incoming] = []
    try:
        early = await drain(a, 60)
        await a.commit(early)
        seen.extend(early)
        b = await started(broker, group, [topic])  # takes some of a's partitions
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(consume_and_commit(a, seen, seen, 200))
                tasks.create_task(consume_and_commit(b, seen, seen, 200))
        finally:
            await b.close()
    finally:
        await a.close()
    assert sorted(ids(seen)) == sorted(f"k{k}-{n}".encode() for n in range(25) for k in range(8))


async def test_ensure_topics_creates_missing_ones_once(
    broker: KafkaBroker, names: Callable[[str], str]
) -> None:
    topic = names("orders")
    wanted = [topic, f"{topic}.dead-letter"]
    await broker.ensure_topics(wanted)
    await broker.ensure_topics(wanted)  # no error, nothing changes
    await broker.ensure_topics([topic, topic])

    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    try:
        described = await admin.describe_topics(wanted)
    finally:
        await admin.close()
    assert sorted(t["topic"] for t in described) == sorted(wanted)
    assert all(t["error_code"] == 0 and len(t["partitions"]) == 4 for t in described)


async def test_commit_of_nothing_and_fetch_of_an_empty_topic(
    broker: KafkaBroker, names: Callable[[str], str]
) -> None:
    topic = names("empty")
    await broker.ensure_topics([topic])
    consumer = await started(broker, names("group"), [topic])
    try:
        await consumer.commit([])
        started_at = time.monotonic()
        assert await consumer.fetch(10, 0.3) == []
        assert time.monotonic() - started_at < 2
    finally:
        await consumer.close()
    await consumer.close()  # closing twice is harmless
