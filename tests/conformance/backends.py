"""How the conformance suite opens each backend.

An opener is called once per test with a fresh temporary folder and returns `connect`: each call of
`connect()` is an async context manager giving a new client of the SAME storage (a second
connection, as a second worker process would have), so races between clients are real.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest

from runtime.backends.memory import MemoryBroker, MemoryStore
from runtime.backends.sqlite import SqliteBroker, SqliteStore
from runtime.backends.sqlite_db import SqliteDatabase
from runtime.types import Broker, Store

StoreConnect = Callable[[], AbstractAsyncContextManager[Store]]
BrokerConnect = Callable[[], AbstractAsyncContextManager[Broker]]


def memory_store(tmp: Path) -> StoreConnect:
    shared = MemoryStore()

    @contextlib.asynccontextmanager
    async def connect() -> AsyncIterator[Store]:
        await shared.start()
        yield shared

    return connect


def sqlite_store(tmp: Path) -> StoreConnect:
    @contextlib.asynccontextmanager
    async def connect() -> AsyncIterator[Store]:
        store = SqliteStore(SqliteDatabase(tmp / "conformance.db"))
        await store.start()
        try:
            yield store
        finally:
            await store.close()

    return connect


def memory_broker(tmp: Path) -> BrokerConnect:
    shared = MemoryBroker()

    @contextlib.asynccontextmanager
    async def connect() -> AsyncIterator[Broker]:
        await shared.start()
        yield shared

    return connect


def sqlite_broker(tmp: Path) -> BrokerConnect:
    @contextlib.asynccontextmanager
    async def connect() -> AsyncIterator[Broker]:
        broker = SqliteBroker(SqliteDatabase(tmp / "conformance.db"))
        await broker.start()
        try:
            yield broker
        finally:
            await broker.close()

    return connect


KAFKA = [
    pytest.mark.kafka,
    pytest.mark.skipif(
        not os.environ.get("DAGGER_KAFKA_BOOTSTRAP"),
        reason="DAGGER_KAFKA_BOOTSTRAP is not set (run `make kafka-up`, then set it to 127.0.0.1:9092)",
    ),
]


def kafka_broker(tmp: Path) -> BrokerConnect:
    """Clients of the broker named by DAGGER_KAFKA_BOOTSTRAP; tests name their own topics."""

    @contextlib.asynccontextmanager
    async def connect() -> AsyncIterator[Broker]:
        from runtime.backends.kafka import KafkaBroker  # noqa: PLC0415 (only when Kafka runs)

        broker = KafkaBroker(os.environ["DAGGER_KAFKA_BOOTSTRAP"], client_id="dagger-conformance")
        await broker.start()
        try:
            yield broker
        finally:
            await broker.close()

    return connect


AEROSPIKE = [
    pytest.mark.aerospike,
    pytest.mark.skipif(
        not os.environ.get("DAGGER_AEROSPIKE_HOSTS"), reason="DAGGER_AEROSPIKE_HOSTS is not set"
    ),
]


class AerospikeConnect:
    """Clients of one fresh prefix, so no two tests (or runs) see each other's records."""

    def __init__(self) -> None:
        hosts = os.environ["DAGGER_AEROSPIKE_HOSTS"]
        namespace = os.environ.get("DAGGER_AEROSPIKE_NAMESPACE", "test")
        prefix = f"dgt{int(time.time()):x}{uuid.uuid4().hex[:8]}_"
        self.url = f"aerospike://{hosts}/{namespace}?prefix={prefix}"

    @contextlib.asynccontextmanager
    async def __call__(self) -> AsyncIterator[Store]:
        from runtime.backends.aerospike import AerospikeStore  # noqa: PLC0415 (optional extra)

        store = AerospikeStore.from_url(self.url)
        await store.start()
        try:
            yield store
        finally:
            await store.close()

    async def dispose(self) -> None:
        """Drop the prefix's records and indexes (a server has room for few indexes)."""
        from runtime.backends.aerospike import AerospikeStore  # noqa: PLC0415

        store = AerospikeStore.from_url(self.url)
        await store.start(prepare=False)
        try:
            await store.drop()
        finally:
            await store.close()


def aerospike_store(tmp: Path) -> StoreConnect:
    return AerospikeConnect()


async def dispose(connect: StoreConnect) -> None:
    """Remove what a backend keeps outside the test's temporary folder."""
    if isinstance(connect, AerospikeConnect):
        await connect.dispose()
