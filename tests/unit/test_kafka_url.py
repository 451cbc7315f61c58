"""`kafka://` URLs: parsed without touching a broker."""

from __future__ import annotations

import re

import pytest

from runtime.backends.kafka import kafka_broker_from_url


def test_hosts_and_options() -> None:
    broker = kafka_broker_from_url("kafka://k1:9092,k2:9093?partitions=8&client_id=orders")
    s = broker.settings
    assert s.bootstrap == ("k1:9092", "k2:9093")
    assert (s.partitions, s.client_id, s.replication) == (8, "orders", 1)


def test_the_longest_message_is_an_option() -> None:
    assert kafka_broker_from_url("kafka://h:9092").max_message_bytes == 1_000_000
    broker = kafka_broker_from_url("kafka://h:9092?max_message_bytes=5000000")
    assert broker.max_message_bytes == broker.settings.max_message_bytes == 5_000_000


def test_defaults() -> None:
    s = kafka_broker_from_url("kafka://127.0.0.1:9092").settings
    assert (s.bootstrap, s.partitions, s.client_id, s.linger_ms) == (
        ("127.0.0.1:9092",),
        4,
        "dagger",
        0,
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite:///x.db", "must start with 'kafka://'"),
        ("kafka://", "must name host:port"),
        (
            "kafka://h:9092?partitions=many",
            "'partitions' in 'kafka://h:9092?partitions=many' must be a whole number (got 'many')",
        ),
        ("kafka://h:9092?partitions=0", "'partitions' must be at least 1 (got 0)"),
        ("kafka://h:9092?parts=3", "unknown option 'parts'"),
        ("kafka://h:9092?max_message_bytes=0", "'max_message_bytes' must be at least 1 (got 0)"),
    ],
)
def test_mistakes_are_named(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        kafka_broker_from_url(url)
