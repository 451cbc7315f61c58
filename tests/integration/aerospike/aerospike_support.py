"""Helpers for the Aerospike tests (a module of its own: tests do not import conftest)."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Awaitable, Callable

import pytest

from runtime.backends.aerospike import AerospikeStore

SKIP_REASON = "DAGGER_AEROSPIKE_HOSTS is not set"
Connect = Callable[[], Awaitable[AerospikeStore]]


def fresh_prefix() -> str:
    """Unique to one test: the time (for spotting leftovers) and a random part."""
    return f"dgt{int(time.time()):x}{uuid.uuid4().hex[:8]}_"


def server_url(prefix: str, namespace: str | None = None) -> str:
    """The store URL on the test server; skips the test when no server is named."""
    hosts = os.environ.get("DAGGER_AEROSPIKE_HOSTS", "")
    if not hosts:
        pytest.skip(SKIP_REASON)
    namespace = namespace or os.environ.get("DAGGER_AEROSPIKE_NAMESPACE", "test")
    return f"aerospike://{hosts}/{namespace}?prefix={prefix}"


async def drop(url: str) -> None:
    store = AerospikeStore.from_url(url)
    await store.start(prepare=False)
    try:
        await store.drop()
    finally:
        await store.close()
