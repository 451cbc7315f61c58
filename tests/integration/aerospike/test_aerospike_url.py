"""The Aerospike URL, and the errors a user meets before any server answers (no server needed)."""

from __future__ import annotations

import socket

import pytest

from runtime.backends.aerospike import AerospikeConfig, AerospikeStore, AerospikeStoreError
from runtime.urls import store_from_url


def test_a_full_url_gives_every_setting() -> None:
    cfg = AerospikeConfig.from_url(
        "aerospike://ops:s%40cret@10.0.0.1:3100,10.0.0.2/dagger?prefix=shop_&timeout_ms=250&pool=4"
    )
    assert cfg.hosts == (("10.0.0.1", 3100), ("10.0.0.2", 3000))
    assert (cfg.namespace, cfg.prefix, cfg.timeout_ms, cfg.pool_size) == ("dagger", "shop_", 250, 4)
    assert (cfg.user, cfg.password) == ("ops", "s@cret")
    assert cfg.where == "10.0.0.1:3100,10.0.0.2:3000"


def test_defaults() -> None:
    cfg = AerospikeConfig.from_url("aerospike://127.0.0.1:3000/test")
    assert (cfg.prefix, cfg.timeout_ms, cfg.pool_size, cfg.user) == ("dagger_", 1000, 16, None)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("aerospike://127.0.0.1:3000", "names no namespace"),
        ("aerospike:///test", "names no host"),
        ("aerospike://127.0.0.1:30x0/test", "bad host '127.0.0.1:30x0'"),
        ("aerospike://127.0.0.1/test?pool=0", "pool must be a positive integer (got '0')"),
        ("aerospike://127.0.0.1/test?timeout_ms=soon", "timeout_ms must be a positive integer"),
        ("aerospike://127.0.0.1/test?prefx=a_", "unknown option(s) prefx"),
        ("aerospike://127.0.0.1/test?prefix=a.b", "prefix must be at most 40 letters"),
        ("redis://127.0.0.1/test", "expected an aerospike:// URL"),
    ],
)
def test_a_bad_url_is_refused_with_the_reason(url: str, says: str) -> None:
    with pytest.raises(ValueError) as caught:
        AerospikeConfig.from_url(url)
    assert says in str(caught.value)


def test_the_store_url_maps_to_the_aerospike_store() -> None:
    store = store_from_url("aerospike://127.0.0.1:3000/test?prefix=x_")
    assert isinstance(store, AerospikeStore)
    assert store.config.prefix == "x_"


def _closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def test_an_unreachable_server_is_named() -> None:
    port = _closed_port()
    store = AerospikeStore.from_url(f"aerospike://127.0.0.1:{port}/test")
    with pytest.raises(AerospikeStoreError) as caught:
        await store.start()
    assert str(caught.value).startswith(f"cannot reach Aerospike at 127.0.0.1:{port}: ")
    await store.close()  # closing after a failed start is harmless


async def test_a_store_that_was_not_started_says_so() -> None:
    store = AerospikeStore.from_url("aerospike://127.0.0.1:3000/test")
    with pytest.raises(AerospikeStoreError, match=r"127\.0\.0\.1:3000 is not started"):
        await store.get("a")
    with pytest.raises(AerospikeStoreError, match="is not started"):
        await store.waiters("T", "k")
