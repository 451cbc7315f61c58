"""The Engine on the Aerospike store, where waits and timers are written with the instance record
(`put_indexed`) and kept messages live in one record per (topic, key): listeners, kept messages,
timers and cancellation behave as on the embedded stores."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import pytest
from attrs import evolve, frozen

from runtime import Engine, Status
from runtime.backends.aerospike import AerospikeStore
from runtime.types import (
    JSON,
    CompiledWorkflow,
    IndexingStore,
    Listen,
    Node,
    Parallel,
    Process,
    Sequence_,
    Sleep,
    TopicSpec,
)

pytestmark = pytest.mark.aerospike


@frozen
class Doc:
    key: str
    box: str = ""
    seen: tuple[str, ...] = ()


@frozen
class Note:
    key: str
    text: str = ""


def _decode_note(data: bytes) -> Note:
    doc = json.loads(data)
    return Note(str(doc["key"]), str(doc["text"]))


def _decode_doc(doc: JSON) -> Doc:
    assert isinstance(doc, dict) and isinstance(doc["seen"], list)
    return Doc(str(doc["key"]), str(doc["box"]), tuple(str(s) for s in doc["seen"]))


REPLIES: TopicSpec[Note] = TopicSpec(
    "dgt.replies",
    key=lambda n: n.key,
    encode=lambda n: json.dumps({"key": n.key, "text": n.text}).encode(),
    decode=_decode_note,
)


def _noted(d: Doc, n: Note) -> Doc:
    return evolve(d, seen=(*d.seen, n.text))


def _workflow(name: str, *steps: Node[Doc]) -> CompiledWorkflow[Doc]:
    """Root (0) -> process P (1) -> `steps`, numbered from 2 (their ids and parents as given)."""
    return CompiledWorkflow(
        name=name,
        version="v1",
        source=f"tests/integration/aerospike:{name}",
        state_type=Doc,
        key=lambda d: d.key,
        encode_state=lambda d: {"key": d.key, "box": d.box, "seen": list(d.seen)},
        decode_state=_decode_doc,
        nodes=(
            Sequence_(id=0, name=name, parent=-1, children=(1,)),
            Process(id=1, name="P", parent=0, children=tuple(s.id for s in steps if s.parent == 1)),
            *steps,
        ),
        topics=(REPLIES,),
    )


def _listen(node: int, parent: int = 1, **more: Any) -> Listen[Doc, Note]:
    return Listen(
        id=node,
        name=f"listen{node}",
        parent=parent,
        topic=REPLIES,
        match=lambda d: d.box or d.key,
        on=_noted,
        **more,
    )


def _sleep(node: int, seconds: float, parent: int = 1) -> Sleep[Doc]:
    return Sleep(
        id=node, name=f"sleep{node}", parent=parent, delay=lambda d: timedelta(seconds=seconds)
    )


LATE = _workflow("Late", _listen(2))
NAP = _workflow("Nap", _sleep(2, 0.1))
PATIENCE = _workflow(
    "Patience", _listen(2, timeout=0.05, on_timeout=lambda d: evolve(d, seen=("gave up",)))
)
BOTH = _workflow(
    "Both",
    Parallel(id=2, name="both", parent=1, children=(3, 4)),
    _listen(3, 2),
    _sleep(4, 3600, 2),
)
ALL = [LATE, NAP, PATIENCE, BOTH]


async def test_the_store_writes_waits_and_timers_with_the_record(aerospike_url: str) -> None:
    async with Engine("memory://", aerospike_url, workflows=ALL) as engine:
        assert isinstance(engine.store, AerospikeStore)
        assert isinstance(engine.store, IndexingStore)


async def test_messages_kept_before_their_listener_are_delivered_once(aerospike_url: str) -> None:
    async with Engine("memory://", aerospike_url, workflows=ALL) as engine:
        for text in ("first", "second"):
            await engine.send(REPLIES, Note("E1", text), message_id=f"m-{text}")
        await engine.send(REPLIES, Note("E1", "first"), message_id="m-first")  # redelivered
        await engine.run(until_idle=True)  # kept: nobody waits yet
        kept = [m.message_id for m in await engine.store.take_early(REPLIES.name, "E1")]
        run = await engine.start(LATE, Doc("E1"))
        await engine.run(until_idle=True)
        status = await engine.status(run.id)
        left = await engine.store.take_early(REPLIES.name, "E1")
        again = await engine.start(LATE, Doc("E1"))  # exists: nothing is reset
        after = await engine.status(run.id)
    assert kept == ["m-first", "m-second"]
    assert status is not None and status.status is Status.COMPLETED
    assert status.state.seen == ("first",)  # the listener took the first; the second is spent
    assert list(left) == [] and not again.created
    assert after is not None and after.state == status.state


async def test_one_message_completes_every_run_waiting_on_its_key(aerospike_url: str) -> None:
    async with Engine("memory://", aerospike_url, workflows=ALL) as engine:
        runs = [await engine.start(LATE, Doc(f"o{i}", box="B7")) for i in range(3)]
        other = await engine.start(LATE, Doc("o9", box="B8"))
        assert list(await engine.store.waiters(REPLIES.name, "B7")) == [r.id for r in runs]
        await engine.send(REPLIES, Note("B7", "packed"))
        await engine.run(until_idle=True)
        statuses = [await engine.status(r.id) for r in runs]
        waiting = await engine.status(other.id)
        left = (
            await engine.store.waiters(REPLIES.name, "B7"),
            await engine.store.waiters(REPLIES.name, "B8"),
        )
    assert all(s is not None and s.state.seen == ("packed",) for s in statuses)
    assert waiting is not None and waiting.status is Status.EXECUTING
    assert left == ([], [other.id])


async def test_a_short_sleep_fires_on_time_and_leaves_no_timer(aerospike_url: str) -> None:
    async with Engine("memory://", aerospike_url, workflows=ALL) as engine:
        run = await engine.start(NAP, Doc("n"))
        assert await engine.store.next_due() is not None
        await engine.run(until_idle=True)
        status = await engine.status(run.id)
        due = await engine.store.next_due()
    assert status is not None and status.status is Status.COMPLETED
    timer = status.nodes[2]
    assert timer.started_at is not None and timer.ended_at is not None
    late = timer.ended_at - timer.started_at - 0.1
    assert -0.001 <= late < 0.25, f"fired {late * 1000:.1f} ms late"
    assert due is None


async def test_a_listener_times_out_and_forgets_its_wait(aerospike_url: str) -> None:
    async with Engine("memory://", aerospike_url, workflows=ALL) as engine:
        run = await engine.start(PATIENCE, Doc("p"))
        await engine.run(until_idle=True)
        status = await engine.status(run.id)
        waiting = await engine.store.waiters(REPLIES.name, "p")
        due = await engine.store.due_timers(time.time() + 60, 10)
    assert status is not None and status.status is Status.COMPLETED
    assert status.state.seen == ("gave up",)
    assert list(waiting) == [] and list(due) == []


async def test_cancel_forgets_the_waits_and_timers_of_a_run(aerospike_url: str) -> None:
    async with Engine("memory://", aerospike_url, workflows=ALL) as engine:
        run = await engine.start(BOTH, Doc("c"))
        before = (await engine.store.waiters(REPLIES.name, "c"), await engine.store.next_due())
        assert await engine.cancel(run.id, "customer asked") is Status.STOPPED
        await engine.send(REPLIES, Note("c", "too late"))
        await engine.run(until_idle=True)
        status = await engine.status(run.id)
        after = (await engine.store.waiters(REPLIES.name, "c"), await engine.store.next_due())
    assert list(before[0]) == [run.id] and before[1] is not None
    assert before[1] > time.time() + 3000
    assert after == ([], None)
    assert status is not None and status.status is Status.STOPPED and status.state.seen == ()
