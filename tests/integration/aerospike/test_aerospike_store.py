"""The Aerospike store on a real server, beyond the conformance suite: races between clients, a hot
correlation key, timers by time range, retention by TTL, and the errors a user meets.

Figures (printed; run with -s to see them) are for orientation, not asserted as speeds.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aerospike import exception as aex
from aerospike_support import Connect, server_url

from runtime.backends.aerospike import AerospikeStore, AerospikeStoreError
from runtime.types import DueTimer, EarlyMessage, RecordRefused, StoredInstance

pytestmark = pytest.mark.aerospike


def rec(iid: str, data: bytes = b"{}", **fields: Any) -> StoredInstance:
    return StoredInstance(
        iid, fields.pop("workflow", "W"), fields.pop("status", "EXECUTING"), data, **fields
    )


# ------------------------------------------------------------------ compare-and-set


async def test_two_writers_race_on_every_round_and_exactly_one_wins(connect: Connect) -> None:
    one, two = await connect(), await connect()
    gen = await one.put(rec("a", b"0"), 0)
    assert gen is not None
    wins = {"one": 0, "two": 0}
    for n in range(1, 101):
        results = await asyncio.gather(
            one.put(rec("a", f"one{n}".encode()), gen), two.put(rec("a", f"two{n}".encode()), gen)
        )
        winners = [name for name, r in zip(("one", "two"), results, strict=True) if r is not None]
        assert len(winners) == 1, f"round {n}: {results}"
        wins[winners[0]] += 1
        stored = await two.get("a")
        assert stored is not None and stored.data == f"{winners[0]}{n}".encode()
        gen = stored.generation
    print(f"\n  CAS races: 100 rounds, wins {wins}")


async def test_eight_workers_incrementing_one_record_lose_no_update(connect: Connect) -> None:
    clients = [await connect() for _ in range(8)]
    await clients[0].put(rec("n", b"0"), 0)
    conflicts = 0

    async def increment(store: AerospikeStore) -> None:
        nonlocal conflicts
        while True:
            got = await store.get("n")
            assert got is not None
            if await store.put(rec("n", str(int(got.data) + 1).encode()), got.generation):
                return
            conflicts += 1

    await asyncio.gather(*(increment(c) for c in clients for _ in range(25)))
    final = await clients[0].get("n")
    assert final is not None and final.data == b"200"
    print(f"\n  200 increments by 8 clients: {conflicts} lost compare-and-sets retried")


# ------------------------------------------------------------------ a hot correlation key


async def test_a_hot_key_with_20000_waiters(store: AerospikeStore) -> None:
    ids = [f"Order:{i:05d}" for i in range(20_000)]
    gate = asyncio.Semaphore(64)

    async def add(iid: str) -> None:
        async with gate:
            await store.add_wait("PAYMENT_LISTENER", "HOT", iid)

    began = time.perf_counter()
    await asyncio.gather(*(add(i) for i in ids))
    added = time.perf_counter() - began
    await store.add_wait("PAYMENT_LISTENER", "COLD", "Order:other")
    began = time.perf_counter()
    found = await store.waiters("PAYMENT_LISTENER", "HOT")
    looked = time.perf_counter() - began
    assert list(found) == ids
    await store.remove_wait("PAYMENT_LISTENER", "HOT", ids[7])
    assert len(await store.waiters("PAYMENT_LISTENER", "HOT")) == 19_999
    assert list(await store.waiters("PAYMENT_LISTENER", "COLD")) == ["Order:other"]
    print(
        f"\n  hot key: 20,000 waiters added in {added:.2f} s ({20_000 / added:,.0f}/s),"
        f" looked up in {looked * 1000:.0f} ms"
    )


# ------------------------------------------------------------------ timers


async def test_timers_are_found_by_time_range(connect: Connect) -> None:
    store, other = await connect(), await connect()
    now = time.time()
    offsets = [-3600.0, -60.0, -1.0, -0.0004, 0.0004, 1.0, 60.0, 3600.0]
    for i, off in enumerate(offsets):
        await store.add_timer(DueTimer(f"i{i}", "t", now + off))
    due = await store.due_timers(now, 100)
    assert [t.instance_id for t in due] == ["i0", "i1", "i2", "i3"]  # sub-millisecond exact
    assert [t.instance_id for t in await store.due_timers(now, 2)] == ["i0", "i1"]
    assert [t.instance_id for t in await store.due_timers(now + 61, 100)][-2:] == ["i5", "i6"]
    assert await store.next_due() == now - 3600.0
    for t in due:
        await store.remove_timer(t.instance_id, t.timer_id)
    assert await store.next_due() == now + 0.0004
    for i in (4, 5):
        await store.remove_timer(f"i{i}", "t")
    assert await other.next_due() == now + 60.0  # beyond the near window: the full lookup
    await store.add_timer(DueTimer("late", "t", now + 2.0))  # set by another worker, due soon
    assert await other.next_due() == now + 2.0


# ------------------------------------------------------------------ retention by TTL


async def test_finished_runs_and_kept_messages_expire_on_the_server(store: AerospikeStore) -> None:
    retention = store.config.min_ttl + 1.0
    now = time.time()
    expires = now + retention
    await store.put(rec("done", status="COMPLETED", expires_at=expires), 0)
    await store.put(rec("running"), 0)
    await store.add_early(EarlyMessage("T", "k", "m1", b"x", expires))
    await asyncio.sleep(retention - 2.0)
    assert await store.get("done") is not None  # kept for its retention
    while await store.get("done") is not None:
        assert time.time() < expires + 3.0, "the server did not expire the finished run"
        await asyncio.sleep(0.2)
    assert time.time() >= expires - 1.0  # not before the retention, give or take its second
    page = await store.list(None, None, 10, None)
    assert [r.id for r in page.items] == ["running"]
    assert await store.take_early("T", "k") == []
    assert await store.purge(time.time()) == 0  # the server already removed both


# ------------------------------------------------------------------ errors and retries


async def test_a_missing_namespace_is_named() -> None:
    url = server_url("dgt_unused_", namespace="no_such_ns")
    store = AerospikeStore.from_url(url)
    with pytest.raises(AerospikeStoreError) as caught:
        await store.start()
    assert "has no namespace 'no_such_ns' (it has: " in str(caught.value)


async def test_a_permanent_error_is_reported_at_once(store: AerospikeStore) -> None:
    before = store.round_trips
    with pytest.raises(RecordRefused) as caught:  # the port's error: it is refused for good
        await store.put(rec("big", b"x" * (2 << 20)), 0)
    assert "writing instance big failed with RecordTooBig (13)" in str(caught.value)
    assert "max-record-size" in str(caught.value)
    assert store.round_trips - before == 1  # not tried again


class Flaky:
    """The real client, whose `method` fails with a timeout on the first `times` calls; with
    `after=True` the call reaches the server first (the answer is what gets lost)."""

    def __init__(self, client: Any, method: str, times: int, *, after: bool = False) -> None:
        self._client, self._method, self.left, self._after = client, method, times, after

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._client, name)
        if name != self._method:
            return real

        def call(*args: Any) -> Any:
            if self.left <= 0:
                return real(*args)
            self.left -= 1
            if self._after:
                real(*args)
            raise aex.TimeoutError(9, "timeout injected by the test", "", 0, True)

        return call


def inject(store: AerospikeStore, flaky: Flaky) -> None:
    store._conn._client = flaky


async def test_a_transient_error_is_tried_again(store: AerospikeStore) -> None:
    await store.put(rec("a"), 0)
    real = store._conn.client
    inject(store, Flaky(real, "get", times=2))
    before = store.round_trips
    got = await store.get("a")
    assert got is not None and store.round_trips - before == 3
    inject(store, Flaky(real, "get", times=3))
    with pytest.raises(
        AerospikeStoreError, match=r"reading instance a failed .* \(tried 3 times\)"
    ):
        await store.get("a")
    inject(store, real)


async def test_a_write_whose_answer_was_lost_is_known_as_its_own(connect: Connect) -> None:
    store, other = await connect(), await connect()
    real = store._conn.client
    inject(store, Flaky(real, "operate", times=1, after=True))
    created = await store.put(rec("a", b"mine"), 0)
    assert created == 1  # applied, its answer lost, the retry refused: still ours
    inject(store, Flaky(real, "operate", times=1, after=True))
    updated = await store.put(rec("a", b"mine again"), created)
    assert updated == 2
    theirs = await other.put(rec("a", b"theirs"), updated)
    assert theirs is not None
    assert await store.put(rec("a", b"stale"), updated) is None  # a real loss stays a loss
