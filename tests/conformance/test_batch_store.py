"""The optional BatchStore capability: many records and waiters read at once, many
compare-and-sets in one write, many performed outboxes cleared in one write.

Every store offering it (SQLite, Aerospike) behaves the same; the memory store keeps to the Store
port, so these tests skip it.
"""

from __future__ import annotations

import asyncio
import time

import attrs
import pytest

from runtime.types import (
    AddWait,
    BatchStore,
    CancelTimer,
    Clear,
    DueTimer,
    EarlyMessage,
    Put,
    RemoveWait,
    SetTimer,
    Store,
    StoredInstance,
    Written,
)

from .test_store import rec


@pytest.fixture
def batch(store: Store) -> BatchStore:
    if not isinstance(store, BatchStore):
        pytest.skip(f"{type(store).__name__} does not offer BatchStore")
    return store


# ------------------------------------------------------------------ waiters_many


async def test_waiters_many_reads_what_waiters_reads_pair_by_pair(
    store: Store, batch: BatchStore
) -> None:
    for topic, key, iid in [("T", "k1", "b"), ("T", "k1", "a"), ("T", "k2", "c"), ("U", "k1", "d")]:
        await store.add_wait(topic, key, iid)
    pairs = [("T", "k1"), ("T", "k2"), ("U", "k1"), ("U", "k2"), ("T", "none")]
    got = await batch.waiters_many(pairs)
    for pair in pairs:
        assert list(got.get(pair, ())) == list(await store.waiters(*pair))
    assert list(got[("T", "k1")]) == ["a", "b"]
    assert await batch.waiters_many([]) == {}


async def test_waiters_many_reads_more_pairs_than_one_query_takes(
    store: Store, batch: BatchStore
) -> None:
    pairs = [("T", f"k{n:04d}") for n in range(600)]
    for topic, key in pairs[::2]:
        await store.add_wait(topic, key, f"run-{key}")
    got = await batch.waiters_many(pairs)
    assert {pair: list(iids) for pair, iids in got.items() if iids} == {
        (t, k): [f"run-{k}"] for t, k in pairs[::2]
    }


# ------------------------------------------------------------------ get_many


async def test_get_many_reads_what_get_reads_and_omits_missing_ids(
    store: Store, batch: BatchStore
) -> None:
    records = [
        rec("a", data=bytes(range(256)), outbox=True, expires_at=99.5),
        rec("b", workflow="V", status="COMPLETED", data=b"", expires_at=None),
        rec("c", data=b'{"n": 3}'),
    ]
    for r in records:
        assert await store.put(r, 0) is not None
    got = await batch.get_many(["missing", "c", "a", "gone", "b"])
    assert dict(got) == {r.id: await store.get(r.id) for r in records}
    assert got["a"].data == bytes(range(256)) and got["a"].outbox and got["a"].expires_at == 99.5
    assert got["b"].workflow == "V" and got["b"].status == "COMPLETED"


async def test_get_many_reads_more_ids_than_one_query_takes(
    store: Store, batch: BatchStore
) -> None:
    ids = [f"r{i:04d}" for i in range(1203)]
    generations = await asyncio.gather(*(store.put(rec(i, data=i.encode()), 0) for i in ids))
    assert all(g is not None for g in generations)
    asked = [x for i in ids for x in (i, f"no-{i}")]  # 2,406 ids, every other one missing
    got = await batch.get_many(asked)
    assert sorted(got) == ids
    assert all(got[i].data == i.encode() and got[i].id == i for i in ids)
    assert got["r1202"] == await store.get("r1202")


async def test_nothing_asked_nothing_read_nothing_written(batch: BatchStore) -> None:
    assert dict(await batch.get_many([])) == {}
    assert list(await batch.put_many([])) == []
    assert list(await batch.clear_many([])) == []


# ------------------------------------------------------------------ put_many


async def test_put_many_gives_one_outcome_per_put_and_losers_write_nothing(
    store: Store, batch: BatchStore
) -> None:
    taken = await batch.put_indexed(rec("taken"), 0, [AddWait("T", "taken"), SetTimer("t", 40.0)])
    moving = await batch.put_indexed(rec("moving"), 0, [AddWait("T", "mv"), SetTimer("t", 50.0)])
    stale = await batch.put_indexed(rec("stale"), 0, [AddWait("T", "st"), SetTimer("t", 60.0)])
    assert taken.generation and moving.generation and stale.generation
    puts = [
        Put(rec("new", data=b"new"), 0, (AddWait("T", "new"), SetTimer("t", 10.0))),
        Put(rec("taken", data=b"x"), 0, (RemoveWait("T", "taken"), SetTimer("u", 1.0))),
        Put(
            rec("moving", status="COMPLETED"),
            moving.generation,
            (RemoveWait("T", "mv"), CancelTimer("t"), AddWait("U", "mv"), SetTimer("u", 20.0)),
        ),
        Put(
            rec("stale", data=b"x"), stale.generation + 5, (RemoveWait("T", "st"), CancelTimer("t"))
        ),
    ]
    written = list(await batch.put_many(puts))
    assert len(written) == 4
    assert written[1] == Written(None) and written[3] == Written(None)
    assert written[0].generation is not None and written[2].generation is not None
    assert written[2].generation != moving.generation
    assert await store.get("new") == attrs.evolve(puts[0].record, generation=written[0].generation)
    moved = await store.get("moving")
    assert moved == attrs.evolve(puts[2].record, generation=written[2].generation)
    assert await store.get("taken") == attrs.evolve(rec("taken"), generation=taken.generation)
    assert await store.get("stale") == attrs.evolve(rec("stale"), generation=stale.generation)
    waits = {k: list(await store.waiters(t, k)) for t, k in [("T", "new"), ("T", "taken")]}
    assert waits == {"new": ["new"], "taken": ["taken"]}
    assert list(await store.waiters("T", "st")) == ["stale"]
    assert list(await store.waiters("T", "mv")) == [] and list(await store.waiters("U", "mv")) == [
        "moving"
    ]
    assert sorted(await store.due_timers(100.0, 10), key=lambda d: d.due) == [
        DueTimer("new", "t", 10.0),
        DueTimer("moving", "u", 20.0),
        DueTimer("taken", "t", 40.0),
        DueTimer("stale", "t", 60.0),
    ]


async def test_put_many_applies_its_puts_in_order(store: Store, batch: BatchStore) -> None:
    first, second = rec("a", data=b"first"), rec("a", data=b"second")
    written = list(await batch.put_many([Put(first, 0), Put(second, 0, (AddWait("T", "a"),))]))
    assert written[0].generation is not None and written[1] == Written(None)
    assert await store.get("a") == attrs.evolve(first, generation=written[0].generation)
    assert list(await store.waiters("T", "a")) == []


async def test_put_many_reads_the_kept_messages_once_written(
    store: Store, batch: BatchStore
) -> None:
    later = time.time() + 3600
    for mid in ("m2", "m1"):
        await store.add_early(EarlyMessage("T", "k", mid, mid.encode(), later))
    await store.add_early(EarlyMessage("T", "j", "m3", b"m3", later))
    gen = await store.put(rec("a", outbox=True), 0)
    assert gen is not None
    written = list(
        await batch.put_many(
            [
                Put(rec("a"), gen + 1, (), (("T", "k"),)),  # stale: reads nothing
                Put(rec("a"), gen, (), (("T", "none"), ("T", "k"))),
                Put(rec("b"), 0, (AddWait("T", "j"),), (("T", "j"),)),
                Put(rec("c"), 0),
            ]
        )
    )
    assert written[0] == Written(None)
    assert [(m.topic, m.key, m.message_id, m.value) for m in written[1].early] == [
        ("T", "k", "m2", b"m2"),
        ("T", "k", "m1", b"m1"),
    ]
    assert [m.message_id for m in written[2].early] == ["m3"]
    assert written[3].generation is not None and written[3].early == ()
    assert len(await store.take_early("T", "k")) == 2  # peeking does not remove
    got = await store.get("a")
    assert got is not None and not got.outbox and got.generation == written[1].generation


# ------------------------------------------------------------------ clear_many


def _but_time(record: StoredInstance) -> StoredInstance:
    """The record but its `updated_at` (which clearing may or may not touch)."""
    return attrs.evolve(record, updated_at=0.0)


async def test_clear_many_drops_the_outbox_flag_of_records_still_at_their_generation(
    store: Store, batch: BatchStore
) -> None:
    gens = {i: await store.put(rec(i, data=i.encode(), outbox=True), 0) for i in "abc"}
    a, b, c = gens["a"], gens["b"], gens["c"]
    assert a is not None and b is not None and c is not None
    written = list(
        await batch.clear_many(
            [Clear("a", a), Clear("ghost", 1), Clear("b", b + 3), Clear("c", c), Clear("c", c)]
        )
    )
    assert [w.generation is None for w in written] == [False, True, True, False, True]
    assert written[1] == written[2] == written[4] == Written(None)
    assert written[0].generation is not None and written[3].generation is not None
    got = await batch.get_many(["a", "b", "c", "ghost"])
    assert sorted(got) == ["a", "b", "c"]
    cleared_a = attrs.evolve(rec("a", data=b"a"), generation=written[0].generation)
    cleared_c = attrs.evolve(rec("c", data=b"c"), generation=written[3].generation)
    assert _but_time(got["a"]) == _but_time(cleared_a)  # the data as it was, the flag down
    assert _but_time(got["c"]) == _but_time(cleared_c)
    assert got["b"] == attrs.evolve(rec("b", data=b"b", outbox=True), generation=b)
    assert written[0].generation != a
    assert list(await store.with_outbox(10)) == ["b"]


async def test_a_cleared_record_moves_on_from_its_new_generation(
    store: Store, batch: BatchStore
) -> None:
    gen = await store.put(rec("a", outbox=True), 0)
    assert gen is not None
    [cleared] = await batch.clear_many([Clear("a", gen)])
    assert cleared.generation is not None
    assert await store.put(rec("a", status="X"), gen) is None
    assert list(await batch.clear_many([Clear("a", gen)])) == [Written(None)]
    assert await store.put(rec("a", status="X"), cleared.generation) is not None


async def test_clear_many_reads_the_kept_messages_once_cleared(
    store: Store, batch: BatchStore
) -> None:
    later = time.time() + 3600
    for mid in ("m2", "m1"):
        await store.add_early(EarlyMessage("T", "k", mid, mid.encode(), later))
    await store.add_early(EarlyMessage("U", "k", "m3", b"m3", later))
    a = await store.put(rec("a", outbox=True), 0)
    b = await store.put(rec("b", outbox=True), 0)
    assert a is not None and b is not None
    peek = (("U", "k"), ("T", "none"), ("T", "k"))
    written = list(await batch.clear_many([Clear("a", a + 1, peek), Clear("b", b, peek)]))
    assert written[0] == Written(None)
    assert [(m.topic, m.key, m.message_id) for m in written[1].early] == [
        ("U", "k", "m3"),
        ("T", "k", "m2"),
        ("T", "k", "m1"),
    ]
    assert len(await store.take_early("T", "k")) == 2  # peeking does not remove
