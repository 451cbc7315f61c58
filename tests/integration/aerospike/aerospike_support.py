"""Helpers for the Aerospike tests (a module of its own: tests do not import conftest): the\nserver URL with a fresh prefix, and for the end-to-end test, the Kafka broker."""

from __future__ import annotations

import os
import socket
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


def kafka_bootstrap() -> str:
    """The Kafka broker for end-to-end tests (DAGGER_KAFKA_BOOTSTRAP, else 127.0.0.1:9092);
    skips the test when nothing listens there."""
    bootstrap = os.environ.get("DAGGER_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=1.0).close()
    except OSError:
        pytest.skip(f"no Kafka broker at {bootstrap}: run `make kafka-up`")
    return bootstrap
