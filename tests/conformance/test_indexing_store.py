"""The optional IndexingStore capability: a record and its index changes in one atomic write.

Every store offering it behaves the same; the memory store does not offer it (the engine takes its
generic path there), so these tests skip it.
"""

from __future__ import annotations

import time

import attrs
import pytest

from runtime.types import (
    AddWait,
    CancelTimer,
    DueTimer,
    EarlyMessage,
    IndexEffect,
    IndexingStore,
    RemoveWait,
    SetTimer,
    Store,
    Written,
)

from .test_store import rec


@pytest.fixture
def indexing(store: Store) -> IndexingStore:
    if not isinstance(store, IndexingStore):
        pytest.skip(f"{type(store).__name__} keeps to the Store port")
    return store


async def test_index_changes_are_written_with_the_record(
    store: Store, indexing: IndexingStore
) -> None:
    first = await indexing.put_indexed(rec("a"), 0, [AddWait("T", "k"), SetTimer("t1", 30.0)])
    assert first.generation is not None and first.early == ()
    got = await store.get("a")
    assert got == attrs.evolve(rec("a"), generation=first.generation)
    assert list(await store.waiters("T", "k")) == ["a"]
    assert list(await store.due_timers(100.0, 10)) == [DueTimer("a", "t1", 30.0)]
    assert await store.next_due() == 30.0
    changes: list[IndexEffect] = [
        RemoveWait("T", "k"),
        CancelTimer("t1"),
        SetTimer("t2", 5.0),
        AddWait("U", "k"),
    ]
    second = await indexing.put_indexed(rec("a", status="X"), first.generation, changes)
    assert second.generation is not None and second.generation != first.generation
    assert list(await store.waiters("T", "k")) == [] and list(await store.waiters("U", "k")) == [
        "a"
    ]
    assert list(await store.due_timers(100.0, 10)) == [DueTimer("a", "t2", 5.0)]
    stored = await store.get("a")
    assert stored is not None and stored.status == "X"


async def test_a_lost_compare_and_set_changes_no_index(
    store: Store, indexing: IndexingStore
) -> None:
    gen = await store.put(rec("a"), 0)
    assert gen is not None
    assert (await indexing.put_indexed(rec("a"), 0, [AddWait("T", "k")])).generation is None
    stale = await indexing.put_indexed(rec("a"), gen + 7, [SetTimer("t", 1.0)])
    assert stale.generation is None
    absent = await indexing.put_indexed(rec("b"), 3, [AddWait("T", "k"), SetTimer("t", 1.0)])
    assert absent.generation is None and await store.get("b") is None
    assert list(await store.waiters("T", "k")) == [] and await store.next_due() is None
    got = await store.get("a")
    assert got is not None and got.generation == gen


async def test_index_changes_apply_in_their_order(store: Store, indexing: IndexingStore) -> None:
    changes: list[IndexEffect] = [
        SetTimer("t", 50.0),
        CancelTimer("t"),
        SetTimer("t", 7.0),
        AddWait("T", "gone"),
        RemoveWait("T", "gone"),
        RemoveWait("T", "back"),
        AddWait("T", "back"),
        AddWait("T", "back"),  # idempotent
    ]
    assert (await indexing.put_indexed(rec("a"), 0, changes)).generation is not None
    assert list(await store.due_timers(100.0, 10)) == [DueTimer("a", "t", 7.0)]
    assert list(await store.waiters("T", "gone")) == []
    assert list(await store.waiters("T", "back")) == ["a"]


async def test_peek_reads_what_is_kept_once_written(store: Store, indexing: IndexingStore) -> None:
    later = time.time() + 3600
    for mid in ("m2", "m1"):
        await store.add_early(EarlyMessage("T", "k", mid, mid.encode(), later))
    await store.add_early(EarlyMessage("T", "j", "m3", b"m3", later))
    gen = await store.put(rec("a", outbox=True), 0)
    assert gen is not None
    lost = await indexing.put_indexed(rec("a"), gen + 1, [], peek=[("T", "k")])
    assert lost == Written(None)
    cleared = await indexing.put_indexed(rec("a"), gen, [], peek=[("T", "none"), ("T", "k")])
    assert cleared.generation is not None
    assert [(m.topic, m.key, m.message_id, m.value) for m in cleared.early] == [
        ("T", "k", "m2", b"m2"),
        ("T", "k", "m1", b"m1"),
    ]
    listening = await indexing.put_indexed(rec("b"), 0, [AddWait("T", "j")], peek=[("T", "j")])
    assert [m.message_id for m in listening.early] == ["m3"]
    assert len(await store.take_early("T", "k")) == 2  # peeking does not remove
    got = await store.get("a")
    assert got is not None and not got.outbox


async def test_the_port_removes_what_was_written_with_the_record(
    store: Store, indexing: IndexingStore
) -> None:
    written = await indexing.put_indexed(rec("a"), 0, [AddWait("T", "k"), SetTimer("t", 9.0)])
    assert written.generation is not None
    await store.remove_wait("T", "k", "a")
    await store.remove_timer("a", "t")
    assert list(await store.waiters("T", "k")) == [] and await store.next_due() is None
    got = await store.get("a")
    assert got is not None and got.data == rec("a").data
