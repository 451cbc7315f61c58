"""Fixtures of the tests of the Kafka backend on its own (test_kafka_*.py), which skip when
DAGGER_KAFKA_BOOTSTRAP is unset (support.py). Topics outlive a test: `names` gives names of its
own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from runtime.backends.kafka import KafkaBroker

from .support import BOOTSTRAP


@pytest.fixture
def names() -> Callable[[str], str]:
    """`names("orders")` -> a topic or group name unique to this test."""
    suffix = uuid.uuid4().hex[:10]
    return lambda base: f"{base}-{suffix}"


@pytest.fixture
async def broker() -> AsyncIterator[KafkaBroker]:
    """A started KafkaBroker whose `ensure_topics` makes 4 partitions."""
    b = KafkaBroker(BOOTSTRAP, client_id="dagger-tests", partitions=4)
    await b.start()
    try:
        yield b
    finally:
        await b.close()
