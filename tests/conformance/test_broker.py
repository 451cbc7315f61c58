"""The Broker port: every implementation behaves the same."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from runtime.types import Broker, Consumer, Incoming, Outgoing

from .backends import BrokerConnect

Names = Callable[[str], str]


def out(topic: str, key: str, value: bytes, mid: str = "") -> Outgoing:
    return Outgoing(topic, key, value, (("dagger-id", (mid or value.decode()).encode()),))


async def drain(consumer: Consumer, want: int, timeout: float = 10.0) -> list[Incoming]:
    got: list[Incoming] = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        got += await consumer.fetch(want - len(got), 0.2)
    return got


async def test_messages_arrive_in_order_with_key_value_and_headers(
    broker: Broker, names: Names
) -> None:
    topic = names("orders")
    await broker.ensure_topics([topic])
    headers = (("dagger-id", b"m1"), ("binary", bytes(range(256))))
    await broker.send([Outgoing(topic, "k", b"\x00first\xff", headers)])
    await broker.send([out(topic, "k", b"second"), out(topic, "k", b"third")])
    consumer = broker.consumer(names("g"), [topic])
    await consumer.start()
    try:
        got = await drain(consumer, 3)
    finally:
        await consumer.close()
    assert [m.value for m in got] == [b"\x00first\xff", b"second", b"third"]
    first = got[0]
    assert (first.topic, first.key, first.headers) == (topic, "k", headers)
    assert first.header("dagger-id") == b"m1" and first.header("absent") is None
    assert [m.offset for m in got] == sorted(m.offset for m in got)


async def test_a_consumer_sees_only_its_topics(broker: Broker, names: Names) -> None:
    mine, other = names("mine"), names("other")
    await broker.ensure_topics([mine, other])
    await broker.send([out(other, "k", b"not for me"), out(mine, "k", b"for me")])
    consumer = broker.consumer(names("g"), [mine])
    await consumer.start()
    try:
        got = await drain(consumer, 1)
        got += await consumer.fetch(10, 0.2)
    finally:
        await consumer.close()
    assert [m.value for m in got] == [b"for me"]


async def test_committed_messages_are_not_delivered_again(
    connect_broker: BrokerConnect, names: Names
) -> None:
    topic, group = names("t"), names("g")
    async with connect_broker() as broker:
        await broker.ensure_topics([topic])
        await broker.send([out(topic, str(i), str(i).encode()) for i in range(5)])
        first = broker.consumer(group, [topic])
        await first.start()
        got = await drain(first, 5)
        await first.commit(got[:3])  # the first three fetched are done (per partition, on Kafka)
        await first.close()
    async with connect_broker() as broker:
        second = broker.consumer(group, [topic])
        await second.start()
        try:
            again = await drain(second, 2)
            assert await second.fetch(10, 0.2) == []
        finally:
            await second.close()
    assert sorted(m.value for m in again) == sorted(m.value for m in got[3:])


async def test_each_group_sees_every_message(broker: Broker, names: Names) -> None:
    topic = names("t")
    await broker.ensure_topics([topic])
    await broker.send([out(topic, "k", b"a"), out(topic, "k", b"b")])
    results = []
    for group in (names("g1"), names("g2")):
        consumer = broker.consumer(group, [topic])
        await consumer.start()
        try:
            results.append([m.value for m in await drain(consumer, 2)])
        finally:
            await consumer.close()
    assert results == [[b"a", b"b"], [b"a", b"b"]]


async def test_members_of_one_group_share_the_messages(broker: Broker, names: Names) -> None:
    topic, group = names("t"), names("g")
    await broker.ensure_topics([topic])
    one, two = broker.consumer(group, [topic]), broker.consumer(group, [topic])
    await one.start()
    await two.start()
    try:
        await broker.send([out(topic, str(i), str(i).encode()) for i in range(20)])
        seen: list[Sequence[Incoming]] = [[], []]
        deadline = time.monotonic() + 10
        while sum(len(s) for s in seen) < 20 and time.monotonic() < deadline:
            a, b = await asyncio.gather(one.fetch(20, 0.1), two.fetch(20, 0.1))
            seen = [[*seen[0], *a], [*seen[1], *b]]
        await one.commit(seen[0])
        await two.commit(seen[1])
        left = await asyncio.gather(one.fetch(20, 0.1), two.fetch(20, 0.1))
        assert [len(batch) for batch in left] == [0, 0]
    finally:
        await one.close()
        await two.close()
    values = [m.value for s in seen for m in s]
    assert sorted(values) == sorted(str(i).encode() for i in range(20))  # each exactly once


async def test_fetch_waits_for_a_send_and_returns_empty_on_timeout(
    broker: Broker, names: Names
) -> None:
    topic = names("t")
    await broker.ensure_topics([topic])
    consumer = broker.consumer(names("g"), [topic])
    await consumer.start()
    try:
        began = time.monotonic()
        assert await consumer.fetch(10, 0.3) == []
        assert 0.25 <= time.monotonic() - began < 2.0

        async def later() -> None:
            await asyncio.sleep(0.1)
            await broker.send([out(topic, "k", b"late")])

        sender = asyncio.create_task(later())
        began = time.monotonic()
        got = await drain(consumer, 1, timeout=5.0)
        waited = time.monotonic() - began
        await sender
    finally:
        await consumer.close()
    assert [m.value for m in got] == [b"late"]
    assert waited < 1.5


async def test_ensure_topics_is_idempotent(broker: Broker, names: Names) -> None:
    topic = names("t")
    await broker.ensure_topics([topic])
    await broker.send([out(topic, "k", b"kept")])
    await broker.ensure_topics([topic])
    consumer = broker.consumer(names("g"), [topic])
    await consumer.start()
    try:
        assert [m.value for m in await drain(consumer, 1)] == [b"kept"]
    finally:
        await consumer.close()
