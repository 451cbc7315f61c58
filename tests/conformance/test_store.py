"""The Store port: every implementation behaves the same."""

from __future__ import annotations

import asyncio
import time

import attrs

from runtime.types import DueTimer, EarlyMessage, Store, StoredInstance

from .backends import StoreConnect


def rec(
    iid: str,
    *,
    workflow: str = "W",
    status: str = "EXECUTING",
    data: bytes = b"{}",
    outbox: bool = False,
    expires_at: float | None = None,
) -> StoredInstance:
    return StoredInstance(
        id=iid,
        workflow=workflow,
        status=status,
        data=data,
        updated_at=1.0,
        outbox=outbox,
        expires_at=expires_at,
    )


# ------------------------------------------------------------------ instances and compare-and-set


async def test_get_of_an_unknown_id_is_none(store: Store) -> None:
    assert await store.get("nope") is None


async def test_create_only_when_absent_and_read_back_every_field(store: Store) -> None:
    record = rec("a", data=bytes(range(256)), outbox=True, expires_at=99.5)
    gen = await store.put(record, 0)
    assert gen is not None and gen > 0
    got = await store.get("a")
    assert got == attrs.evolve(record, generation=gen)
    assert await store.put(rec("a", data=b"other"), 0) is None
    assert (await store.get("a")) == got


async def test_compare_and_set_by_generation(store: Store) -> None:
    first = await store.put(rec("a"), 0)
    assert first is not None
    second = await store.put(rec("a", status="COMPLETED"), first)
    assert second is not None and second != first
    assert await store.put(rec("a", status="FAILED"), first) is None  # stale
    got = await store.get("a")
    assert got is not None and got.status == "COMPLETED" and got.generation == second


async def test_update_of_an_absent_record_fails(store: Store) -> None:
    assert await store.put(rec("ghost"), 3) is None
    assert await store.get("ghost") is None


async def test_two_writers_race_one_wins_the_other_retries(connect_store: StoreConnect) -> None:
    async with connect_store() as one, connect_store() as two:
        gen = await one.put(rec("a", data=b"0"), 0)
        assert gen is not None
        seen_one, seen_two = await one.get("a"), await two.get("a")
        assert seen_one is not None and seen_two is not None
        results = await asyncio.gather(
            one.put(rec("a", data=b"1"), seen_one.generation),
            two.put(rec("a", data=b"2"), seen_two.generation),
        )
        assert sum(r is not None for r in results) == 1
        loser = two if results[0] is not None else one
        fresh = await loser.get("a")
        assert fresh is not None
        assert await loser.put(rec("a", data=fresh.data + b"+"), fresh.generation) is not None
        final = await one.get("a")
        assert final is not None and final.data in (b"1+", b"2+")


async def test_concurrent_increments_lose_no_update(connect_store: StoreConnect) -> None:
    async with connect_store() as one, connect_store() as two:
        await one.put(rec("n", data=b"0"), 0)

        async def increment(store: Store) -> int:
            conflicts = 0
            while True:
                got = await store.get("n")
                assert got is not None
                value = str(int(got.data) + 1).encode()
                if await store.put(rec("n", data=value), got.generation) is not None:
                    return conflicts
                conflicts += 1

        await asyncio.gather(*(increment(s) for s in [one, two] * 10))
        final = await one.get("n")
        assert final is not None and final.data == b"20"


async def test_list_filters_and_pages_in_id_order(store: Store) -> None:
    for i in range(7):
        await store.put(
            rec(
                f"r{i}",
                workflow="A" if i % 2 else "B",
                status="COMPLETED" if i < 3 else "EXECUTING",
            ),
            0,
        )
    seen: list[str] = []
    cursor: str | None = None
    while True:
        page = await store.list(None, None, 3, cursor)
        seen += [r.id for r in page.items]
        if page.next is None:
            break
        cursor = page.next
    assert seen == [f"r{i}" for i in range(7)]
    only_a = await store.list("A", None, 10, None)
    assert [r.id for r in only_a.items] == ["r1", "r3", "r5"] and only_a.next is None
    done_b = await store.list("B", "COMPLETED", 10, None)
    assert [r.id for r in done_b.items] == ["r0", "r2"]
    exact = await store.list(None, "COMPLETED", 3, None)
    assert len(exact.items) == 3 and exact.next is None


async def test_with_outbox_lists_pending_records_only(store: Store) -> None:
    await store.put(rec("x", outbox=True), 0)
    await store.put(rec("y"), 0)
    gen = await store.put(rec("z", outbox=True), 0)
    assert list(await store.with_outbox(10)) == ["x", "z"]
    assert list(await store.with_outbox(1)) == ["x"]
    assert gen is not None
    await store.put(rec("z", outbox=False), gen)
    assert list(await store.with_outbox(10)) == ["x"]


async def test_lists_hold_instances_only(store: Store) -> None:
    await store.add_wait("T", "k", "a")
    await store.add_timer(DueTimer("a", "t", 5.0))
    await store.put(rec("a", outbox=True), 0)
    await store.add_wait("T", "k", "ghost")
    await store.add_timer(DueTimer("ghost", "t", 5.0))
    assert [r.id for r in (await store.list(None, None, 10, None)).items] == ["a"]
    assert list(await store.with_outbox(10)) == ["a"]
    assert await store.get("ghost") is None


# ------------------------------------------------------------------ correlation index


async def test_waiters_by_topic_and_key(store: Store) -> None:
    await store.add_wait("T", "k1", "b")
    await store.add_wait("T", "k1", "a")
    await store.add_wait("T", "k1", "a")  # idempotent
    await store.add_wait("T", "k2", "c")
    await store.add_wait("U", "k1", "d")
    assert list(await store.waiters("T", "k1")) == ["a", "b"]
    await store.remove_wait("T", "k1", "a")
    await store.remove_wait("T", "k1", "nobody")
    assert list(await store.waiters("T", "k1")) == ["b"]
    assert list(await store.waiters("T", "zzz")) == []


# ------------------------------------------------------------------ timers


async def test_timers_come_due_in_order(store: Store) -> None:
    assert await store.next_due() is None
    await store.add_timer(DueTimer("i1", "t1", 30.0))
    await store.add_timer(DueTimer("i2", "t1", 10.0))
    await store.add_timer(DueTimer("i1", "t2", 20.0))
    assert await store.next_due() == 10.0
    due = await store.due_timers(25.0, 10)
    assert [(t.instance_id, t.timer_id) for t in due] == [("i2", "t1"), ("i1", "t2")]
    assert len(await store.due_timers(100.0, 2)) == 2
    await store.remove_timer("i2", "t1")
    await store.remove_timer("i2", "absent")
    assert await store.next_due() == 20.0


async def test_setting_a_timer_again_moves_it(store: Store) -> None:
    await store.add_timer(DueTimer("i", "t", 50.0))
    await store.add_timer(DueTimer("i", "t", 5.0))
    assert [t.due for t in await store.due_timers(100.0, 10)] == [5.0]


# ------------------------------------------------------------------ early messages


async def test_early_messages_are_kept_in_arrival_order_until_removed(store: Store) -> None:
    later = time.time() + 3600
    for mid in ("m2", "m1", "m3"):
        await store.add_early(EarlyMessage("T", "k", mid, mid.encode() + b"\x00\xff", later))
    await store.add_early(EarlyMessage("T", "k", "m1", b"duplicate", later))
    await store.add_early(EarlyMessage("T", "other", "m9", b"x", later))
    kept = await store.take_early("T", "k")
    assert [(m.message_id, m.value) for m in kept] == [
        ("m2", b"m2\x00\xff"),
        ("m1", b"m1\x00\xff"),
        ("m3", b"m3\x00\xff"),
    ]
    assert len(await store.take_early("T", "k")) == 3  # taking does not remove
    await store.remove_early("T", "k", "m1")
    assert [m.message_id for m in await store.take_early("T", "k")] == ["m2", "m3"]


async def test_expired_early_messages_are_not_taken_and_are_purged(store: Store) -> None:
    now = time.time()
    await store.add_early(EarlyMessage("T", "k", "old", b"x", now - 1))
    await store.add_early(EarlyMessage("T", "k", "new", b"y", now + 3600))
    assert [m.message_id for m in await store.take_early("T", "k")] == ["new"]
    await store.put(rec("gone", status="COMPLETED", expires_at=now - 1), 0)
    await store.put(rec("kept", status="COMPLETED", expires_at=now + 3600), 0)
    await store.put(rec("running"), 0)
    assert await store.purge(now) == 2
    assert await store.get("gone") is None
    assert await store.get("kept") is not None and await store.get("running") is not None
    assert [m.message_id for m in await store.take_early("T", "k")] == ["new"]
