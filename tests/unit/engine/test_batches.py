"""Batch steps: over a store that is a BatchStore (SQLite), the starts of one loop iteration and a
fetched batch of listener messages are each taken as one step. What a user sees must not change:
every run created once, every message applied once and in order, early messages kept, two
engines over one file never applying an event twice, observers told of every transition.

The outcome tests run on three set-ups: SQLite for both (one unit of work: no outbox to clear),
a memory broker over a SQLite store (the batch path with outboxes cleared by a second batch
write), and memory alone (no batch path: the same outcome the one-at-a-time way).
"""

from __future__ import annotations

import asyncio
import collections
from pathlib import Path

import attrs
import pytest
from attrs import frozen

from runtime import Engine, Run, Status
from runtime.ops.hooks import BaseObserver, EngineObserver
from runtime.types import JSON, BatchStore, CompiledWorkflow, Outgoing

from .flows import Doc, Msg, call, command, listen, process, topic, workflow

REQUESTS = topic("REQUESTS")
REPLIES = topic("REPLIES")
OTHER = topic("OTHER")
PING = workflow("Ping", process("P", command(REQUESTS), listen(REPLIES)))
WAIT = workflow("Wait", process("P", listen(REPLIES)))
TWICE = workflow("Twice", process("P", listen(REPLIES), listen(REPLIES)))
BOTH = workflow("Both", process("P", listen(REPLIES), listen(OTHER)))
RELAY = workflow("Relay", process("P", listen(REPLIES), command(REQUESTS), listen(OTHER)))


@frozen
class Backends:
    url: str
    store_url: str | None = None
    batched: bool = True  # the store is a BatchStore


@pytest.fixture(params=["sqlite", "memory-broker-sqlite-store", "memory"])
def backends(request: pytest.FixtureRequest, tmp_path: Path) -> Backends:
    file = f"sqlite:///{tmp_path / 'engine.db'}"
    if request.param == "sqlite":
        return Backends(file)
    if request.param == "memory":
        return Backends("memory://", batched=False)
    return Backends("memory://", file)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'engine.db'}"


class Recorder(BaseObserver):
    """Every transition, status and store call an engine reports."""

    def __init__(self) -> None:
        self.transitions: list[tuple[str, str]] = []
        self.statuses: list[tuple[str, Status]] = []
        self.store_calls: collections.Counter[str] = collections.Counter()
        self.early = 0

    def on_transition(self, workflow: str, node_kind: str, seconds: float) -> None:
        self.transitions.append((workflow, node_kind))

    def on_status(self, instance_id: str, workflow: str, status: Status) -> None:
        self.statuses.append((instance_id, status))

    def on_store(self, operation: str, seconds: float) -> None:
        self.store_calls[operation] += 1

    def on_early_message(self, topic: str) -> None:
        self.early += 1


def engine_on(
    backends: Backends,
    *workflows: CompiledWorkflow[Doc],
    observer: EngineObserver | None = None,
    batch_size: int | None = None,
) -> Engine:
    return Engine(
        backends.url,
        backends.store_url,
        workflows=workflows,
        observer=observer,
        batch_size=batch_size,
    )


def echo(engine: Engine, seen: list[Msg]) -> None:
    """A service: answers every request on REPLIES with text 'ok:<key>'."""

    async def handler(m: Msg) -> None:
        seen.append(m)
        await engine.send(REPLIES, Msg(m.key, f"ok:{m.key}"))

    engine.subscribe(REQUESTS, handler)


async def _append(seen: list[Msg], m: Msg) -> None:
    seen.append(m)


async def states(engine: Engine, ids: list[str]) -> list[tuple[Status, tuple[str, ...]]]:
    """(status, what the run's listeners saw) of each run."""
    found = []
    for iid in ids:
        status = await engine.status(iid)
        assert status is not None, iid
        found.append((status.status, status.state.seen))
    return found


# ------------------------------------------------------------------ starts


async def test_starts_made_together_each_create_their_run_once(backends: Backends) -> None:
    seen: list[Msg] = []
    recorder = Recorder()
    keys = [f"k{i:03d}" for i in range(300)]
    async with engine_on(backends, PING, observer=recorder) as engine:
        echo(engine, seen)
        runs = await asyncio.gather(*(engine.start(PING, Doc(k)) for k in keys))
        await engine.run(until_idle=True)
        found = await states(engine, [r.id for r in runs])
    assert [(r.id, r.created) for r in runs] == [(f"Ping:{k}", True) for k in keys]
    assert found == [(Status.COMPLETED, (f"ok:{k}",)) for k in keys]
    assert sorted(m.key for m in seen) == keys
    assert collections.Counter(recorder.statuses) == collections.Counter(
        [(f"Ping:{k}", s) for k in keys for s in (Status.EXECUTING, Status.COMPLETED)]
    )


async def test_the_same_key_started_twice_at_once_creates_one_run(backends: Backends) -> None:
    seen: list[Msg] = []
    async with engine_on(backends, PING) as engine:
        echo(engine, seen)
        old = await engine.start(PING, Doc("old", n=1))
        runs = await asyncio.gather(
            engine.start(PING, Doc("K")),
            engine.start(PING, Doc("K", n=5)),
            engine.start(PING, Doc("old", n=9)),
            engine.start(PING, Doc("L")),
            engine.start(PING, Doc("K", n=7)),
        )
        await engine.run(until_idle=True)
        page = await engine.list(workflow=PING)
        k = await engine.status("Ping:K")
        o = await engine.status(old.id)
    assert [(r.id, r.created) for r in runs] == [
        ("Ping:K", True),
        ("Ping:K", False),
        ("Ping:old", False),
        ("Ping:L", True),
        ("Ping:K", False),
    ]
    assert [item.id for item in page.items] == ["Ping:K", "Ping:L", "Ping:old"]
    assert k is not None and k.state == Doc("K", seen=("ok:K",)) and k.status is Status.COMPLETED
    assert o is not None and o.state.n == 1
    assert sorted(m.key for m in seen) == ["K", "L", "old"]


def _encode_unless_bad(d: Doc) -> JSON:
    if d.key == "bad":
        raise ValueError("this state cannot be encoded")
    return WAIT.encode_state(d)


PICKY = attrs.evolve(WAIT, name="Picky", encode_state=_encode_unless_bad)


async def test_a_start_that_fails_leaves_the_starts_made_with_it_alone(
    backends: Backends,
) -> None:
    async with engine_on(backends, PICKY) as engine:
        results = await asyncio.gather(
            engine.start(PICKY, Doc("g0")),
            engine.start(PICKY, Doc("bad")),
            engine.start(PICKY, Doc("g1")),
            return_exceptions=True,
        )
        page = await engine.list(workflow=PICKY)
    assert isinstance(results[1], ValueError)
    assert [(r.id, r.created) for r in results if isinstance(r, Run)] == [
        ("Picky:g0", True),
        ("Picky:g1", True),
    ]
    assert [item.id for item in page.items] == ["Picky:g0", "Picky:g1"]


async def test_a_start_of_a_run_in_the_middle_of_a_step_waits_for_it(backends: Backends) -> None:
    async with engine_on(backends, WAIT) as engine:
        old = await engine.start(WAIT, Doc("busy"))
        stopped, again, new = await asyncio.gather(
            engine.cancel(old.id),
            engine.start(WAIT, Doc("busy", n=3)),
            engine.start(WAIT, Doc("new")),
        )
        busy = await engine.status(old.id)
    assert stopped is Status.STOPPED
    assert (again.id, again.created, new.id, new.created) == (old.id, False, "Wait:new", True)
    assert busy is not None and busy.status is Status.STOPPED and busy.state.n == 0


# ------------------------------------------------------------------ fetched messages


async def test_a_batch_of_replies_for_many_runs_is_applied(backends: Backends) -> None:
    recorder = Recorder()
    keys = [f"w{i:02d}" for i in range(60)]
    async with engine_on(backends, WAIT, observer=recorder, batch_size=64) as engine:
        runs = await asyncio.gather(*(engine.start(WAIT, Doc(k)) for k in keys))
        await engine.run(until_idle=True)
        for k in keys:
            await engine.send(REPLIES, Msg(k, f"r-{k}"))
        recorder.transitions.clear()
        await engine.run(until_idle=True)
        found = await states(engine, [r.id for r in runs])
    assert found == [(Status.COMPLETED, (f"r-{k}",)) for k in keys]
    assert recorder.transitions == [("Wait", "listen")] * 60
    completed = [iid for iid, s in recorder.statuses if s is Status.COMPLETED]
    assert sorted(completed) == [r.id for r in runs]


async def test_two_messages_for_one_run_in_a_batch_are_both_applied_in_order(
    backends: Backends,
) -> None:
    keys = [f"t{i}" for i in range(6)]
    async with engine_on(backends, TWICE, BOTH) as engine:
        twice = [await engine.start(TWICE, Doc(k)) for k in keys]
        both = [await engine.start(BOTH, Doc(f"b{k}")) for k in keys]
        await engine.run(until_idle=True)
        for k in keys:
            await engine.send(REPLIES, Msg(k, "one"))
            await engine.send(REPLIES, Msg(f"b{k}", "first"))
            await engine.send(OTHER, Msg(f"b{k}", "second"))
        for k in keys:
            await engine.send(REPLIES, Msg(k, "two"))
        await engine.run(until_idle=True)
        found_twice = await states(engine, [r.id for r in twice])
        found_both = await states(engine, [r.id for r in both])
    assert found_twice == [(Status.COMPLETED, ("one", "two"))] * 6
    assert found_both == [(Status.COMPLETED, ("first", "second"))] * 6


BOXED = workflow("Boxed", process("P", listen(REPLIES, match=lambda d: d.box)))


async def test_shared_keys_and_bad_messages_go_alone_beside_a_batch(backends: Backends) -> None:
    """One message for three runs, and one that cannot be decoded, in a batch of replies to
    single runs: the first reaches all three, the second goes to the dead-letter topic."""
    singles = [f"s{i}" for i in range(6)]
    async with engine_on(backends, BOXED) as engine:
        shared = [await engine.start(BOXED, Doc(f"p{i}", box="B7")) for i in range(3)]
        single = [await engine.start(BOXED, Doc(k, box=k)) for k in singles]
        await engine.run(until_idle=True)
        dead = engine.broker.consumer("test-dlq", ["REPLIES.dead-letter"])
        await engine.send(REPLIES, Msg("s0", "one"))
        await engine.send(REPLIES, Msg("B7", "all"))
        await engine.broker.send([Outgoing("REPLIES", "s1", b"not json", ())])
        for k in singles[1:]:
            await engine.send(REPLIES, Msg(k, "one"))
        await engine.run(until_idle=True)
        await dead.start()
        dead_letters = [r.value for r in await dead.fetch(10, 1.0)]
        await dead.close()
        found_shared = await states(engine, [r.id for r in shared])
        found_single = await states(engine, [r.id for r in single])
    assert found_shared == [(Status.COMPLETED, ("all",))] * 3
    assert found_single == [(Status.COMPLETED, ("one",))] * 6
    assert dead_letters == [b"not json"]


async def test_a_message_on_a_listener_not_yet_active_waits_for_it(backends: Backends) -> None:
    """OTHER comes before REPLIES in one fetched batch: nobody listens on OTHER yet, so it goes
    its own way, and still reaches the run once the REPLIES step (a batch step) makes it listen
    on OTHER."""
    keys = [f"e{i}" for i in range(8)]
    async with engine_on(backends, BOTH) as engine:
        runs = [await engine.start(BOTH, Doc(k)) for k in keys]
        await engine.run(until_idle=True)
        for k in keys:
            await engine.send(OTHER, Msg(k, "second"))
        for k in keys:
            await engine.send(REPLIES, Msg(k, "first"))
        await engine.run(until_idle=True)
        found = await states(engine, [r.id for r in runs])
        left = [list(await engine.store.take_early("OTHER", k)) for k in keys]
    assert found == [(Status.COMPLETED, ("first", "second"))] * 8
    assert left == [[]] * 8


async def test_an_early_message_is_kept_while_the_rest_of_its_batch_goes_on(
    backends: Backends,
) -> None:
    recorder = Recorder()
    keys = [f"w{i}" for i in range(10)]
    async with engine_on(backends, WAIT, observer=recorder) as engine:
        runs = [await engine.start(WAIT, Doc(k)) for k in keys]
        await engine.run(until_idle=True)
        for k in keys[:5]:
            await engine.send(REPLIES, Msg(k, "now"))
        await engine.send(REPLIES, Msg("late", "early"))
        for k in keys[5:]:
            await engine.send(REPLIES, Msg(k, "now"))
        await engine.run(until_idle=True)
        found = await states(engine, [r.id for r in runs])
        late = await engine.start(WAIT, Doc("late"))
        await engine.run(until_idle=True)
        [after] = await states(engine, [late.id])
        left = list(await engine.store.take_early("REPLIES", "late"))
    assert found == [(Status.COMPLETED, ("now",))] * 10
    assert recorder.early == 1
    assert after == (Status.COMPLETED, ("early",))
    assert left == []


async def test_kept_messages_reach_runs_whose_batch_step_also_sends(backends: Backends) -> None:
    """RELAY's reply step sends a request and starts listening on OTHER, where a message is
    already kept: the batch's write of the records reads it, over SQLite alone and over a
    memory broker (where the outbox is then cleared by a second batch write)."""
    seen: list[Msg] = []
    keys = [f"r{i}" for i in range(8)]
    async with engine_on(backends, RELAY) as engine:
        engine.subscribe(REQUESTS, lambda m: _append(seen, m))
        runs = [await engine.start(RELAY, Doc(k)) for k in keys]
        await engine.run(until_idle=True)
        for k in keys:
            await engine.send(OTHER, Msg(k, "kept"))
        await engine.run(until_idle=True)
        for k in keys:
            await engine.send(REPLIES, Msg(k, "reply"))
        await engine.run(until_idle=True)
        found = await states(engine, [r.id for r in runs])
        pending = [s.pending_effects for r in runs if (s := await engine.status(r.id))]
    assert found == [(Status.COMPLETED, ("reply", "kept"))] * 8
    assert sorted(m.key for m in seen) == keys
    assert pending == [0] * 8


def bump(d: Doc) -> Doc:
    return attrs.evolve(d, n=d.n + 1)


OWES = workflow("Owes", process("P", listen(REPLIES), command(REQUESTS), call(bump)))


async def test_a_batch_step_that_sends_and_owes_a_call_does_both(backends: Backends) -> None:
    """Over a memory broker the outbox keeps the call once the send is performed, so it is
    rewritten by the batch's clearing write rather than cleared by its flag."""
    seen: list[Msg] = []
    keys = [f"o{i}" for i in range(8)]
    async with engine_on(backends, OWES) as engine:
        engine.subscribe(REQUESTS, lambda m: _append(seen, m))
        runs = [await engine.start(OWES, Doc(k)) for k in keys]
        await engine.run(until_idle=True)
        for k in keys:
            await engine.send(REPLIES, Msg(k, "go"))
        await engine.run(until_idle=True)
        after = [await engine.status(r.id) for r in runs]
    assert [(s.status, s.state.n, s.pending_effects) for s in after if s] == [
        (Status.COMPLETED, 1, 0)
    ] * 8
    assert sorted(m.key for m in seen) == keys


# ------------------------------------------------------------------ what batching saves


async def test_a_batch_step_reads_and_writes_once_for_many_runs(sqlite_url: str) -> None:
    recorder = Recorder()
    keys = [f"w{i:02d}" for i in range(64)]
    async with Engine(sqlite_url, workflows=[WAIT], observer=recorder, batch_size=64) as engine:
        assert isinstance(engine.store, BatchStore)
        runs = await asyncio.gather(*(engine.start(WAIT, Doc(k)) for k in keys))
        started = recorder.store_calls.copy()
        for k in keys:
            await engine.send(REPLIES, Msg(k, "r"))
        recorder.store_calls.clear()
        await engine.run(until_idle=True)
        replied = recorder.store_calls.copy()
        found = await states(engine, [r.id for r in runs])
    assert found == [(Status.COMPLETED, ("r",))] * 64
    assert started["put"] <= 2  # 64 starts in one batch write, not one each
    assert replied["get"] <= 2 and replied["put"] <= 2  # 64 replies: one read, one write


# ------------------------------------------------------------------ two engines, one file


async def test_two_engines_over_one_file_apply_each_event_once(tmp_path: Path) -> None:
    """Each engine consumes every reply (two groups), so both step the same runs at the same
    time: the compare-and-sets that lose are retried alone, and find the event applied."""
    await two_engines_apply_each_event_once(tmp_path, TWICE)


async def two_engines_apply_each_event_once(tmp_path: Path, wf: CompiledWorkflow[Doc]) -> None:
    """48 runs of `wf` (two listeners on REPLIES), each sent "a" then "b", consumed by two
    engines over one file: every run sees both once, in order; 96 events applied in all."""
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    one_seen, two_seen = Recorder(), Recorder()
    keys = [f"s{i:02d}" for i in range(48)]
    async with (
        Engine(url, workflows=[wf], group="one", observer=one_seen) as one,
        Engine(url, workflows=[wf], group="two", observer=two_seen) as two,
    ):
        runs = await asyncio.gather(*(one.start(wf, Doc(k)) for k in keys))
        for text in ("a", "b"):
            for k in keys:
                await one.send(REPLIES, Msg(k, text), message_id=f"{k}-{text}")
        await asyncio.gather(one.run(until_idle=True), two.run(until_idle=True))
        found = await states(two, [r.id for r in runs])
    assert found == [(Status.COMPLETED, ("a", "b"))] * 48
    transitions = one_seen.transitions + two_seen.transitions
    assert transitions == [(wf.name, "listen")] * 96  # each of the 96 events applied once
