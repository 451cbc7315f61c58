"""Sends of one event-loop iteration leave together (runtime/backends/kafka_sender.py), against a
real Apache Kafka: `make kafka-up`, then
`DAGGER_KAFKA_BOOTSTRAP=127.0.0.1:9092 pytest tests/integration/kafka_backend/test_kafka_sends.py`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import MessageSizeTooLargeError
from aiokafka.partitioner import murmur2

from runtime.backends.kafka import KafkaBroker
from runtime.types import MESSAGE_ID_HEADER, Incoming, MessageRefused, Outgoing

from .support import BOOTSTRAP, KAFKA, drain, message, started

pytestmark = KAFKA

PARTITIONS = 4


async def received(broker: KafkaBroker, topic: str, count: int) -> list[Incoming]:
    """The first `count` records of `topic`, read by a consumer group of their own."""
    consumer = await started(broker, f"{topic}-reader", [topic])
    try:
        return await drain(consumer, count)
    finally:
        await consumer.close()


def java_partition(key: str) -> int:
    """The partition the Java client picks for `key` (murmur2, positive, modulo the count)."""
    hashed: int = murmur2(key.encode())
    return (hashed & 0x7FFFFFFF) % PARTITIONS


async def test_concurrent_sends_arrive_once_in_order_per_key_on_the_java_partition(
    broker: KafkaBroker, names: Callable[[str], str]
) -> None:
    topic = names("commands")
    await broker.ensure_topics([topic])
    keys = [f"order-{k}" for k in range(30)]

    async def caller(key: str) -> None:
        for start in range(0, 20, 5):  # each caller sends again once acknowledged
            await broker.send([message(topic, key, n) for n in range(start, start + 5)])

    await asyncio.gather(*(caller(k) for k in keys))
    records = await received(broker, topic, 20 * len(keys))
    assert len(records) == 20 * len(keys)
    for key in keys:
        mine = [r for r in records if r.key == key]
        assert [r.value for r in mine] == [f"{key}:{n}".encode() for n in range(20)]
        assert {r.partition for r in mine} == {java_partition(key)}


async def test_a_message_bigger_than_a_record_batch_goes_in_order_with_the_rest(
    names: Callable[[str], str],
) -> None:
    topic = names("big")
    big = KafkaBroker(BOOTSTRAP, client_id="dagger-tests", partitions=PARTITIONS)
    await big.start()
    try:
        await big.ensure_topics([topic])
        huge = b"x" * (big.settings.max_batch_size + 1024)  # past one record batch
        head = (MESSAGE_ID_HEADER, b"m")
        await asyncio.gather(
            big.send([message(topic, "K", 0), Outgoing(topic, "K", huge, (head,))]),
            big.send([message(topic, "L", 0)]),
        )
        await big.send([message(topic, "K", 2)])
        records = await received(big, topic, 4)
    finally:
        await big.close()
    assert [r.value for r in records if r.key == "K"] == [b"K:0", huge, b"K:2"]
    assert [r.value for r in records if r.key == "L"] == [b"L:0"]


async def test_a_refused_message_fails_its_own_send_only(
    broker: KafkaBroker, names: Callable[[str], str]
) -> None:
    topic = names("refused")
    await broker.ensure_topics([topic])
    too_big = Outgoing(topic, "X", b"x" * (2 * 1024 * 1024), ((MESSAGE_ID_HEADER, b"x"),))
    refused, accepted = await asyncio.gather(
        broker.send([too_big]),
        broker.send([message(topic, "Y", 0)]),
        return_exceptions=True,
    )
    assert isinstance(refused, MessageRefused)  # the port's error: it will never be taken
    assert isinstance(refused.__cause__, MessageSizeTooLargeError)
    assert accepted is None
    [record] = await received(broker, topic, 1)
    assert (record.key, record.value) == ("Y", b"Y:0")


async def test_a_partition_takes_messages_again_after_the_broker_refused_one(
    broker: KafkaBroker, names: Callable[[str], str]
) -> None:
    """A batch the broker refuses (the topic takes smaller messages than the producer sends)
    took sequence numbers it never wrote; the partition's next sends still arrive."""
    topic = names("small-topic")
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    try:
        limit = {"max.message.bytes": "20000"}
        await admin.create_topics([NewTopic(topic, 1, 1, topic_configs=limit)])
    finally:
        await admin.close()
    await broker.send([message(topic, "K", 0)])  # the partition knows this producer's sequence
    too_big = Outgoing(topic, "K", b"x" * 50_000, ((MESSAGE_ID_HEADER, b"big"),))
    for _ in range(2):  # refused by the broker, not the producer, and again
        try:
            await broker.send([too_big])
        except MessageRefused:
            pass
        else:
            raise AssertionError("the topic took a message over its max.message.bytes")
    await broker.send([message(topic, "K", 1)])
    await broker.send([message(topic, "K", 2)])
    records = await received(broker, topic, 3)
    assert [r.value for r in records] == [b"K:0", b"K:1", b"K:2"]


async def test_sending_nothing_returns_at_once(broker: KafkaBroker) -> None:
    await asyncio.wait_for(broker.send([]), 1.0)
