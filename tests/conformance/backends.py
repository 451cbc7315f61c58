"""How the conformance suite opens each backend.

An opener is called once per test with a fresh temporary folder and returns `connect`: each call of
`connect()` is an async context manager giving a new client of the SAME storage (a second
connection, as a second worker process would have), so races between clients are real.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

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
