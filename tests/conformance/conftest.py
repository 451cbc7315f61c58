"""One suite for every implementation of the ports.

Adding a backend is one line: append `pytest.param(opener, id=..., marks=...)` to STORES or BROKERS,
where `opener(tmp_path)` returns a `connect()` (see `backends.py`). Tests use the `store` / `broker`
fixtures, `connect_store` / `connect_broker` for a second client of the same storage, and `names`
for topic and group names no other test uses (Kafka topics outlive a test).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from runtime.types import Broker, Store

from .backends import (
    AEROSPIKE,
    KAFKA,
    BrokerConnect,
    StoreConnect,
    aerospike_store,
    dispose,
    kafka_broker,
    memory_broker,
    memory_store,
    sqlite_broker,
    sqlite_store,
)

STORES = [
    pytest.param(memory_store, id="memory"),
    pytest.param(sqlite_store, id="sqlite"),
    pytest.param(aerospike_store, id="aerospike", marks=AEROSPIKE),
]

BROKERS = [
    pytest.param(memory_broker, id="memory"),
    pytest.param(sqlite_broker, id="sqlite"),
    pytest.param(kafka_broker, id="kafka", marks=KAFKA),
]


@pytest.fixture(params=STORES)
async def connect_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[StoreConnect]:
    opener: Callable[[Path], StoreConnect] = request.param
    connect = opener(tmp_path)
    yield connect
    await dispose(connect)


@pytest.fixture(params=BROKERS)
def connect_broker(request: pytest.FixtureRequest, tmp_path: Path) -> BrokerConnect:
    opener: Callable[[Path], BrokerConnect] = request.param
    return opener(tmp_path)


@pytest.fixture
async def store(connect_store: StoreConnect) -> AsyncIterator[Store]:
    async with connect_store() as s:
        yield s


@pytest.fixture
async def broker(connect_broker: BrokerConnect) -> AsyncIterator[Broker]:
    async with connect_broker() as b:
        yield b


@pytest.fixture
def names() -> Callable[[str], str]:
    """`names("orders")` -> a topic or group name unique to this test run."""
    suffix = uuid.uuid4().hex[:10]
    return lambda base: f"{base}-{suffix}"
