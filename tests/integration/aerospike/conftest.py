"""Tests of the Aerospike store against a real server, named by DAGGER_AEROSPIKE_HOSTS=host:port
(namespace DAGGER_AEROSPIKE_NAMESPACE, default `test`, with an nsup-period so TTLs work).

Every test gets a prefix of its own, so runs never see each other's records; its indexes and
records are dropped afterwards (a namespace has room for few indexes).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aerospike_support import Connect, fresh_prefix, server_url

from runtime.backends.aerospike import AerospikeStore


@pytest.fixture
async def aerospike_url() -> AsyncIterator[str]:
    """A store URL with a fresh prefix, dropped after the test."""
    url = server_url(fresh_prefix())
    yield url
    await AerospikeStore.drop_url(url)


@pytest.fixture
async def connect(aerospike_url: str) -> AsyncIterator[Connect]:
    """`await connect()` -> a started client of the test's prefix (as another worker would
    have); all are closed after the test."""
    opened: list[AerospikeStore] = []

    async def open_one() -> AerospikeStore:
        store = AerospikeStore.from_url(aerospike_url)
        await store.start()
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        await store.close()


@pytest.fixture
async def store(connect: Connect) -> AerospikeStore:
    return await connect()
