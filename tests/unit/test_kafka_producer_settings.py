"""The Kafka broker's producer and consumer settings, checked without a broker."""

from __future__ import annotations

import pytest
from aiokafka.partitioner import DefaultPartitioner

from runtime.backends.kafka import KeyPartitioner, kafka_broker_from_url

KEYS = [f"Orders2:order-{n}".encode() for n in range(500)] + [b"", b"\x00\xff", "é".encode()]


@pytest.mark.parametrize("count", [1, 3, 4, 12])
def test_keys_land_where_the_java_client_puts_them(count: int) -> None:
    partitions = list(range(count))
    reference, ours = DefaultPartitioner(), KeyPartitioner(size=64)  # small: it forgets often
    for _ in range(2):  # the second pass mostly hits the remembered hashes
        assert [ours(k, partitions, partitions) for k in KEYS] == [
            reference(k, partitions, partitions) for k in KEYS
        ]


def test_a_message_without_a_key_goes_to_an_available_partition() -> None:
    assert KeyPartitioner()(None, [0, 1, 2, 3], [2]) == 2


def test_commit_interval_from_the_url() -> None:
    assert kafka_broker_from_url("kafka://h:9092").settings.commit_interval_ms == 100
    url = "kafka://h:9092?commit_interval_ms=1000"
    assert kafka_broker_from_url(url).settings.commit_interval_ms == 1000
