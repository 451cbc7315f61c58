"""Runs an engine cannot read: of a workflow it does not serve, or recorded by another version of
one it does (the workflow was recompiled since). Nothing of theirs is lost or spun on: a message
for one goes to the dead-letter topic with the reason (replayed to an engine that serves it, it is
applied), a due timer of one is left for an engine that can fire it, and cancelling one says why.
Two engines share one SQLite file, one after the other, as an old and a new build would."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from attrs import evolve

from runtime import Engine, Status, UnreadableRunError
from runtime.types import MESSAGE_ID_HEADER, CompiledWorkflow, Incoming, Outgoing

from .flows import Doc, Msg, call, command, listen, process, sleep, topic, workflow

REQUESTS = topic("REQUESTS")
REPLIES = topic("REPLIES")
DEAD = "REPLIES.dead-letter"


def ping(*, by_key: bool) -> CompiledWorkflow[Doc]:
    return workflow("Ping", process("P", command(REQUESTS), listen(REPLIES, by_key=by_key)))


PONG = workflow("Pong", process("P", listen(REPLIES)))
NAP = workflow("Nap", process("P", sleep(0.05)))


def bump(d: Doc) -> Doc:
    return evolve(d, n=d.n + 1)


CALLS = workflow("Calls", process("P", call(bump)))


def rebuilt(wf: CompiledWorkflow[Doc]) -> CompiledWorkflow[Doc]:
    """`wf` as a later build compiles it: the same name, another version."""
    return evolve(wf, version=f"{wf.version}-next")


async def dead_letters(engine: Engine, group: str) -> list[Incoming]:
    consumer = engine.broker.consumer(group, [DEAD])
    await consumer.start()
    try:
        return list(await consumer.fetch(100, 0.5))
    finally:
        await consumer.close()


async def replay(engine: Engine, letters: list[Incoming]) -> None:
    """What an operator does once an engine that serves the runs is up: send them back."""
    await engine.broker.send([Outgoing("REPLIES", r.key, r.value, r.headers) for r in letters])
    await engine.run(until_idle=True)


@pytest.mark.parametrize("by_key", [False, True], ids=["indexed", "by_key"])
@pytest.mark.parametrize("runs", [1, 3], ids=["one", "a_batch"])
async def test_messages_for_runs_of_another_version_go_to_the_dead_letter_topic(
    tmp_path: Path, by_key: bool, runs: int
) -> None:
    url = f"sqlite:///{tmp_path / 'builds.db'}"
    old = ping(by_key=by_key)
    keys = [f"k{i}" for i in range(runs)]
    async with Engine(url, workflows=[old]) as engine:
        started = [await engine.start(old, Doc(k)) for k in keys]
        await engine.run(until_idle=True)
    async with Engine(url, workflows=[rebuilt(old)]) as engine:
        for k in keys:
            await engine.send(REPLIES, Msg(k, "paid"), message_id=f"reply-{k}")
        await engine.run(until_idle=True)
        letters = await dead_letters(engine, "ops")
    assert sorted(r.key for r in letters) == keys  # each one kept, none applied
    reason = dict(letters[0].headers)["dagger-error"].decode()
    assert f"run 'Ping:{letters[0].key}' cannot be read" in reason, reason
    assert f"Ping version {old.version}," in reason and f"{old.version}-next" in reason, reason
    async with Engine(url, workflows=[old]) as engine:  # the build that recorded them
        await replay(engine, letters)
        finished = [await engine.status(r.id) for r in started]
    assert [s.status if s else None for s in finished] == [Status.COMPLETED] * runs
    assert all(s is not None and s.state == Doc(s.id[5:], seen=("paid",)) for s in finished)


async def test_a_message_reaches_the_runs_it_can_and_is_kept_for_the_rest(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'builds.db'}"
    old = ping(by_key=False)
    async with Engine(url, workflows=[old, PONG]) as engine:
        ping_run = await engine.start(old, Doc("k"))
        pong_run = await engine.start(PONG, Doc("k"))
        await engine.run(until_idle=True)
    async with Engine(url, workflows=[rebuilt(old), PONG]) as engine:
        await engine.send(REPLIES, Msg("k", "paid"), message_id="reply-k")
        await engine.run(until_idle=True)
        letters = await dead_letters(engine, "ops")
        pong = await engine.status(pong_run.id)
    assert pong is not None and pong.status is Status.COMPLETED  # the run it can read took it
    assert [r.key for r in letters] == ["k"]
    async with Engine(url, workflows=[old, PONG]) as engine:
        await replay(engine, letters)
        again = await engine.status(ping_run.id)
        pong_after = await engine.status(pong_run.id)
    assert again is not None and again.status is Status.COMPLETED
    assert again.state == Doc("k", seen=("paid",))
    assert pong_after == pong  # the replay was a repeat to it


@pytest.mark.parametrize("other", ["another version", "another workflow"])
async def test_due_timers_of_runs_it_cannot_read_are_left_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, other: str
) -> None:
    url = f"sqlite:///{tmp_path / 'builds.db'}"
    async with Engine(url, workflows=[NAP]) as engine:
        napping = await engine.start(NAP, Doc("old"))  # its timer is due in 50 ms
    mine = (
        rebuilt(NAP) if other == "another version" else workflow("Doze", process("P", sleep(0.05)))
    )
    with caplog.at_level(logging.WARNING, logger="dagger"):
        async with Engine(url, workflows=[mine]) as engine:
            own = await engine.start(mine, Doc("new"))
            await engine.run(until_idle=True)  # returns: the old timer is not its work
            done = await engine.status(own.id)
    assert done is not None and done.status is Status.COMPLETED  # its own timer fired
    left = [r.getMessage() for r in caplog.records if "due timer" in r.getMessage()]
    assert len(left) == 1 and "left 1 due timer(s)" in left[0] and "Nap:old" in left[0], left
    async with Engine(url, workflows=[NAP]) as engine:  # an engine that serves the run
        await engine.run(until_idle=True)
        woke = await engine.status(napping.id)
    assert woke is not None and woke.status is Status.COMPLETED


async def test_cancelling_a_run_of_another_version_says_why(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'builds.db'}"
    old = ping(by_key=False)
    async with Engine(url, workflows=[old]) as engine:
        run = await engine.start(old, Doc("k"))
    async with Engine(url, workflows=[rebuilt(old)]) as engine:
        with pytest.raises(UnreadableRunError, match=r"Ping:k' cannot be read: .* version"):
            await engine.cancel(run.id)
    async with Engine(url, workflows=[old]) as engine:
        status = await engine.status(run.id)
    assert status is not None and status.status is Status.EXECUTING  # not cancelled, not lost


async def test_dead_letters_of_one_key_keep_their_order(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'builds.db'}"
    old = ping(by_key=True)
    async with Engine(url, workflows=[old]) as engine:
        await engine.start(old, Doc("k"))
    async with Engine(url, workflows=[rebuilt(old)]) as engine:
        await engine.broker.send(
            [Outgoing("REPLIES", "k", REPLIES.encode(Msg("k", t)), ()) for t in "abc"]
        )
        await engine.run(until_idle=True)
        letters = await dead_letters(engine, "ops")
    assert [REPLIES.decode(r.value).text for r in letters] == ["a", "b", "c"]


async def test_outboxes_of_runs_it_cannot_read_are_left_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'builds.db'}"
    async with Engine(url, workflows=[CALLS]) as client:  # no run(): the call stays owed
        owing = await client.start(CALLS, Doc("old"))
    with caplog.at_level(logging.WARNING, logger="dagger"):
        async with Engine(url, workflows=[rebuilt(CALLS)], recover_after=0.0) as engine:
            serving = asyncio.create_task(engine.run())
            await asyncio.sleep(2.5)  # a sweep at the start, then one each second
            engine.shutdown()
            await serving
    left = [r.getMessage() for r in caplog.records if "outbox" in r.getMessage()]
    assert len(left) == 1 and "left 1 outbox(es)" in left[0] and "Calls:old" in left[0], left
    async with Engine(url, workflows=[CALLS]) as engine:
        await engine.run(until_idle=True)
        status = await engine.status(owing.id)
    assert status is not None and status.status is Status.COMPLETED
    assert status.state == Doc("old", n=1)


def _strict_decode(data: bytes) -> Msg:
    message = REPLIES.decode(data)
    if message.text.startswith("v1:"):
        raise ValueError("a v1 reply: this build reads v2 only")
    return message


async def test_a_kept_message_this_build_cannot_decode_goes_to_the_dead_letter_topic(
    tmp_path: Path,
) -> None:
    """A reply an earlier build kept for a listener not started yet; the new build's message
    type differs. Starting the listener dead-letters it (the engine stopped on it)."""
    url = f"sqlite:///{tmp_path / 'builds.db'}"
    async with Engine(url, workflows=[ping(by_key=True)]) as engine:
        await engine.send(REPLIES, Msg("k", "v1:paid"), message_id="early-1")
        await engine.run(until_idle=True)  # no run waits for it: it is kept
    strict = evolve(REPLIES, decode=_strict_decode)
    newer = workflow("Ping", process("P", command(REQUESTS), listen(strict, by_key=True)))
    async with Engine(url, workflows=[newer]) as engine:
        run = await engine.start(newer, Doc("k"))
        await engine.run(until_idle=True)
        letters = await dead_letters(engine, "ops")
        status = await engine.status(run.id)
        assert await engine.store.take_early("REPLIES", "k") == []  # not kept twice
    assert [(r.key, r.header(MESSAGE_ID_HEADER)) for r in letters] == [("k", b"early-1")]
    reason = (letters[0].header("dagger-error") or b"").decode()
    assert reason == (
        "cannot decode a kept REPLIES message: ValueError: a v1 reply: this build reads v2 only"
    )
    assert status is not None and status.status is Status.EXECUTING  # still waits for a reply
