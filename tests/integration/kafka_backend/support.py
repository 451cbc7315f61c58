"""What the tests of the Kafka backend share: where the broker is, the marks that skip them
with the reason when it is not given, and reading what a consumer gets."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

import pytest

from runtime.backends.kafka import KafkaBroker, KafkaConsumer
from runtime.types import MESSAGE_ID_HEADER, Incoming, Outgoing

BOOTSTRAP = os.environ.get("DAGGER_KAFKA_BOOTSTRAP", "")

KAFKA = [
    pytest.mark.kafka,
    pytest.mark.skipif(
        not BOOTSTRAP,
        reason="needs Apache Kafka: run `make kafka-up` and set"
        " DAGGER_KAFKA_BOOTSTRAP=127.0.0.1:9092",
    ),
]


def message(topic: str, key: str, n: int) -> Outgoing:
    """The `n`th message of `key`: value `key:n`, id `key-n`."""
    return Outgoing(
        topic, key, f"{key}:{n}".encode(), ((MESSAGE_ID_HEADER, f"{key}-{n}".encode()),)
    )


async def started(broker: KafkaBroker, group: str, topics: Sequence[str]) -> KafkaConsumer:
    """A member of `group` reading `topics`, started (it holds partitions)."""
    consumer = broker.consumer(group, topics)
    await consumer.start()
    return consumer


async def drain(consumer: KafkaConsumer, count: int, within: float = 20.0) -> list[Incoming]:
    """Fetch until `count` records came (failing past `within` seconds), without committing."""
    found: list[Incoming] = []
    deadline = time.monotonic() + within
    while len(found) < count:
        assert time.monotonic() < deadline, f"got {len(found)} of {count} records"
        found.extend(await consumer.fetch(count - len(found), 0.5))
    return found


async def quiet(consumer: KafkaConsumer, wait: float = 1.5) -> list[Incoming]:
    """What arrives within `wait` seconds (to show that nothing more does)."""
    found: list[Incoming] = []
    deadline = time.monotonic() + wait
    while (left := deadline - time.monotonic()) > 0:
        found.extend(await consumer.fetch(100, left))
    return found
