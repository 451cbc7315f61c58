"""Listeners whose match is the workflow's key (`Listen.by_key`): the engine finds the run that
waits for a message by the run's id, `<workflow>:<message key>`, with no correlation index written
when the listener starts or ends and none read when the message arrives. What a user sees must be
what an indexed listener gives: every reply applied once and in order, a message that comes
before its listener (or before its run) kept and delivered, one message reaching every run that
waits on its key. On the three set-ups of test_batches (batch steps with and without an outbox,
and the one-at-a-time way).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime import Engine, Status

from . import test_batches
from .flows import Doc, Msg, command, listen, process, topic, workflow
from .test_batches import (
    REPLIES,
    REQUESTS,
    Backends,
    Recorder,
    engine_on,
    states,
    two_engines_apply_each_event_once,
)

backends = test_batches.backends  # the three set-ups, a fixture of this module too

OTHER = topic("OTHER")
PING = workflow("KeyPing", process("P", command(REQUESTS), listen(REPLIES, by_key=True)))
TWICE = workflow(
    "KeyTwice", process("P", listen(REPLIES, by_key=True), listen(REPLIES, by_key=True))
)
BOTH = workflow("KeyBoth", process("P", listen(REPLIES, by_key=True), listen(OTHER, by_key=True)))
ALSO = workflow("KeyAlso", process("P", listen(REPLIES, by_key=True)))
INDEXED = workflow("Indexed", process("P", listen(REPLIES, match=lambda d: d.box)))


async def indexed_waiters(engine: Engine, topic: str, key: str) -> list[str]:
    return list(await engine.store.waiters(topic, key))


async def test_replies_reach_their_runs_with_no_index(backends: Backends) -> None:
    keys = [f"k{i:02d}" for i in range(40)]
    async with engine_on(backends, PING) as engine:

        async def answer(m: Msg) -> None:
            await engine.send(REPLIES, Msg(m.key, f"ok:{m.key}"))

        engine.subscribe(REQUESTS, answer)
        runs = [await engine.start(PING, Doc(k)) for k in keys]
        await engine.run(until_idle=True, max_wait=0)
        indexed = [await indexed_waiters(engine, "REPLIES", k) for k in keys]
        await engine.run(until_idle=True)
        found = await states(engine, [r.id for r in runs])
        pending = [s.pending_effects for r in runs if (s := await engine.status(r.id))]
    assert found == [(Status.COMPLETED, (f"ok:{k}",)) for k in keys]
    assert pending == [0] * 40
    assert indexed == [[]] * 40  # the runs waited, and no index held them


async def test_two_replies_for_one_run_are_applied_in_order_once_each(backends: Backends) -> None:
    keys = [f"t{i}" for i in range(8)]
    async with engine_on(backends, TWICE) as engine:
        runs = [await engine.start(TWICE, Doc(k)) for k in keys]
        await engine.run(until_idle=True)
        for text in ("a", "b", "a"):  # the last one is the first sent again
            for k in keys:
                await engine.send(REPLIES, Msg(k, text), message_id=f"{k}-{text}")
        await engine.run(until_idle=True)
        found = await states(engine, [r.id for r in runs])
    assert found == [(Status.COMPLETED, ("a", "b"))] * 8


async def test_a_message_before_its_listener_is_kept_and_delivered(backends: Backends) -> None:
    """OTHER arrives while the runs still wait on REPLIES: kept, then delivered once the REPLIES
    step starts the OTHER listener."""
    recorder = Recorder()
    keys = [f"e{i}" for i in range(8)]
    async with engine_on(backends, BOTH, observer=recorder) as engine:
        runs = [await engine.start(BOTH, Doc(k)) for k in keys]
        await engine.run(until_idle=True)
        for k in keys:
            await engine.send(OTHER, Msg(k, "second"))
        await engine.run(until_idle=True)
        for k in keys:
            await engine.send(REPLIES, Msg(k, "first"))
        await engine.run(until_idle=True)
        found = await states(engine, [r.id for r in runs])
        left = [list(await engine.store.take_early("OTHER", k)) for k in keys]
    assert recorder.early == 8
    assert found == [(Status.COMPLETED, ("first", "second"))] * 8
    assert left == [[]] * 8


async def test_a_message_before_its_run_starts_is_kept_for_it(backends: Backends) -> None:
    async with engine_on(backends, ALSO) as engine:
        await engine.send(REPLIES, Msg("soon", "early"))
        await engine.run(until_idle=True)
        run = await engine.start(ALSO, Doc("soon"))
        await engine.run(until_idle=True)
        [found] = await states(engine, [run.id])
        left = list(await engine.store.take_early("REPLIES", "soon"))
    assert found == (Status.COMPLETED, ("early",))
    assert left == []


async def test_a_message_after_its_run_ended_is_kept_not_applied(backends: Backends) -> None:
    async with engine_on(backends, ALSO) as engine:
        run = await engine.start(ALSO, Doc("done"))
        await engine.run(until_idle=True)
        await engine.send(REPLIES, Msg("done", "first"))
        await engine.run(until_idle=True)
        await engine.send(REPLIES, Msg("done", "again"))
        await engine.run(until_idle=True)
        [found] = await states(engine, [run.id])
        kept = [m.message_id for m in await engine.store.take_early("REPLIES", "done")]
    assert found == (Status.COMPLETED, ("first",))
    assert len(kept) == 1  # as for an indexed listener: nobody waits, so it is kept


@pytest.mark.parametrize("other", [ALSO, INDEXED], ids=["by-key", "indexed"])
async def test_one_message_reaches_every_run_waiting_on_its_key(
    backends: Backends, other: object
) -> None:
    """A by-key run and another run on the same topic and key (by key too, or through the
    index, matching on another field) both get the message."""
    assert other is ALSO or other is INDEXED
    async with engine_on(backends, PING, other) as engine:
        engine.subscribe(REQUESTS, lambda m: _nothing())
        mine = await engine.start(PING, Doc("shared"))
        theirs = await engine.start(other, Doc("shared", box="shared"))
        await engine.run(until_idle=True)
        await engine.send(REPLIES, Msg("shared", "hello"))
        await engine.run(until_idle=True)
        found = await states(engine, [mine.id, theirs.id])
    assert found == [(Status.COMPLETED, ("hello",))] * 2


async def _nothing() -> None:
    return None


async def test_two_engines_over_one_file_apply_each_event_once(tmp_path: Path) -> None:
    """Both engines consume every reply (two groups) and read the same runs to route them: the
    step whose compare-and-set loses (its run moved since it was read) goes again alone and
    finds the event applied."""
    await two_engines_apply_each_event_once(tmp_path, TWICE)
