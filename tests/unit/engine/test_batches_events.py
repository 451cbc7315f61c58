"""Batch steps for the events of runs in flight: call results and fired timers of one loop
iteration are applied together over a BatchStore (SQLite), a run with several of them in rounds.
What a user sees is what the one-at-a-time way gives (the `memory` set-up): every call run once,
every result and timer applied once, moot timers gone from the due index.
"""

from __future__ import annotations

import asyncio
import collections
import time
from datetime import UTC, datetime

import attrs
import pytest

from runtime import Engine, Status
from runtime.types import JSON, DueTimer

from . import test_batches
from .flows import Doc, call, parallel, process, sleep, until, workflow
from .test_batches import Backends, Recorder, engine_on, states

backends = test_batches.backends  # the three set-ups, a fixture of this module too


class Gate:
    """Call functions that hold at a gate: each counts its invocation and waits; once opened,
    every waiting call returns in the same loop iteration."""

    def __init__(self, waiting: int) -> None:
        self.waiting = waiting
        self.arrived = asyncio.Event()
        self.opened = asyncio.Event()
        self.calls: collections.Counter[str] = collections.Counter()

    async def _hold(self, name: str) -> None:
        self.calls[name] += 1
        if self.calls.total() == self.waiting:
            self.arrived.set()
        await self.opened.wait()

    async def bump(self, d: Doc) -> Doc:
        await self._hold(d.key)
        return attrs.evolve(d, n=d.n + 1)

    async def note(self, d: Doc) -> Doc:
        await self._hold(f"note:{d.key}")
        return attrs.evolve(d, seen=(*d.seen, "noted"))

    async def run_through(self, engine: Engine, recorder: Recorder) -> None:
        """Run `engine` until idle, opening the gate once every expected call holds at it; what
        `recorder` saw before the gate opened is forgotten."""
        running = asyncio.create_task(engine.run(until_idle=True))
        async with asyncio.timeout(5):
            await self.arrived.wait()
        recorder.transitions.clear()
        recorder.store_calls.clear()
        self.opened.set()
        await running


async def test_call_results_of_one_iteration_complete_every_run_once(backends: Backends) -> None:
    gate, recorder = Gate(200), Recorder()
    wf = workflow("Gated", process("P", call(gate.bump)))
    keys = [f"g{i:03d}" for i in range(200)]
    async with engine_on(backends, wf, observer=recorder, batch_size=64) as engine:
        runs = await asyncio.gather(*(engine.start(wf, Doc(k)) for k in keys))
        await gate.run_through(engine, recorder)
        gets = recorder.store_calls["get"]
        after = [await engine.status(r.id) for r in runs]
    assert [(s.status, s.state.n) for s in after if s] == [(Status.COMPLETED, 1)] * 200
    assert gate.calls == collections.Counter(dict.fromkeys(keys, 1))
    assert recorder.transitions == [("Gated", "call")] * 200
    completed = sorted(iid for iid, s in recorder.statuses if s is Status.COMPLETED)
    assert completed == [r.id for r in runs]
    if backends.batched:
        assert gets <= 4  # 200 results in chunks of 64, one read each


async def test_two_results_for_one_run_in_an_iteration_are_both_applied(
    backends: Backends,
) -> None:
    gate, recorder = Gate(40), Recorder()
    wf = workflow("Pair", process("P", parallel(call(gate.bump), call(gate.note))))
    keys = [f"p{i:02d}" for i in range(20)]
    async with engine_on(backends, wf, observer=recorder, batch_size=64) as engine:
        runs = await asyncio.gather(*(engine.start(wf, Doc(k)) for k in keys))
        await gate.run_through(engine, recorder)
        gets = recorder.store_calls["get"]
        after = [await engine.status(r.id) for r in runs]
    assert [(s.status, s.state.n, s.state.seen) for s in after if s] == [
        (Status.COMPLETED, 1, ("noted",))
    ] * 20
    assert set(gate.calls.values()) == {1} and len(gate.calls) == 40
    assert recorder.transitions == [("Pair", "call")] * 40
    if backends.batched:
        assert gets <= 2  # one round for the first result of each run, one for the second


async def test_timers_due_together_fire_in_one_batch(backends: Backends) -> None:
    recorder = Recorder()
    at = datetime.fromtimestamp(time.time() + 0.3, UTC)
    wf = workflow("Same", process("P", until(lambda d: at)))
    keys = [f"s{i:03d}" for i in range(100)]
    async with engine_on(backends, wf, observer=recorder, batch_size=128) as engine:
        runs = await asyncio.gather(*(engine.start(wf, Doc(k)) for k in keys))
        recorder.store_calls.clear()
        await engine.run(until_idle=True)
        gets = recorder.store_calls["get"]
        after = [await engine.status(r.id) for r in runs]
        due = await engine.store.next_due()
    assert [s.status for s in after if s] == [Status.COMPLETED] * 100
    fired = [s.nodes[-1].ended_at for s in after if s]
    assert all(t is not None and t >= at.timestamp() for t in fired)
    assert recorder.transitions == [("Same", "until")] * 100
    assert due is None
    if backends.batched:
        assert gets == 1


async def test_a_run_cancelled_before_its_timer_fires_stays_stopped(backends: Backends) -> None:
    invoked: list[str] = []

    async def bump(d: Doc) -> Doc:
        invoked.append(d.key)
        return attrs.evolve(d, n=d.n + 1)

    wf = workflow("Nap", process("P", sleep(0.2), call(bump)))
    keys = [f"n{i}" for i in range(10)]
    async with engine_on(backends, wf) as engine:
        runs = await asyncio.gather(*(engine.start(wf, Doc(k)) for k in keys))
        stopped = [await engine.cancel(r.id) for r in runs[::2]]
        await engine.run(until_idle=True)
        after = [await engine.status(r.id) for r in runs]
        due = await engine.store.next_due()
    assert stopped == [Status.STOPPED] * 5
    assert [(s.status, s.state.n) for s in after if s] == [
        (Status.STOPPED, 0),
        (Status.COMPLETED, 1),
    ] * 5
    assert sorted(invoked) == keys[1::2]
    assert due is None


async def test_timers_that_fire_for_nothing_leave_the_due_index(backends: Backends) -> None:
    """Timers a run does not hold (of a stopped run, of no run, one a sleeping run never set)
    fire beside real ones: nothing changes, and they are gone from the due index."""
    recorder = Recorder()
    wf = workflow("Doze", process("P", sleep(0.1)))
    async with engine_on(backends, wf, observer=recorder) as engine:
        live = await asyncio.gather(*(engine.start(wf, Doc(f"d{i}")) for i in range(4)))
        gone = await engine.start(wf, Doc("stopped"))
        await engine.cancel(gone.id)
        now = time.time()
        for iid, timer in [(gone.id, "t"), ("Doze:nobody", "t"), (live[0].id, "stray")]:
            await engine.store.add_timer(DueTimer(iid, timer, now + 0.1))
        async with asyncio.timeout(5):  # a timer left in the index fires again and again
            await engine.run(until_idle=True)
        found = await states(engine, [r.id for r in (*live, gone)])
        nobody = await engine.status("Doze:nobody")
        due = await engine.store.next_due()
    assert [s for s, _seen in found] == [Status.COMPLETED] * 4 + [Status.STOPPED]
    assert nobody is None
    assert recorder.transitions.count(("Doze", "sleep")) == 4
    assert len(recorder.transitions) == 5  # four timers and the cancel: no stray one applied
    assert due is None


async def test_retried_and_failing_calls_end_as_one_at_a_time(backends: Backends) -> None:
    tries: list[str] = []

    async def flaky(d: Doc) -> Doc:
        tries.append(d.key)
        if tries.count(d.key) < 3:
            raise ConnectionError(f"try {tries.count(d.key)}")
        return attrs.evolve(d, n=d.n + 1)

    def broken(d: Doc) -> Doc:
        tries.append(d.key)
        raise ValueError("no stock")

    retry = workflow("Retry", process("P", call(flaky, attempts=3)))
    fails = workflow("Fails", process("P", call(broken, attempts=2)))
    ok_keys, bad_keys = [f"r{i}" for i in range(8)], [f"f{i}" for i in range(8)]
    async with engine_on(backends, retry, fails) as engine:
        ok = await asyncio.gather(*(engine.start(retry, Doc(k)) for k in ok_keys))
        bad = await asyncio.gather(*(engine.start(fails, Doc(k)) for k in bad_keys))
        await engine.run(until_idle=True)
        after = [await engine.status(r.id) for r in (*ok, *bad)]
    ended = [(s.status, s.state.n, s.nodes[-1].attempt, s.nodes[-1].status) for s in after if s]
    assert (
        ended
        == [(Status.COMPLETED, 1, 3, Status.COMPLETED)] * 8
        + [(Status.FAILED, 0, 2, Status.FAILED)] * 8
    )
    assert all(s.error and "failed after 2 attempts: ValueError" in s.error for s in after[8:] if s)
    assert collections.Counter(tries) == {**dict.fromkeys(ok_keys, 3), **dict.fromkeys(bad_keys, 2)}


def _encode_unless_bad(d: Doc) -> JSON:
    if d.box == "bad":
        raise ValueError("this state cannot be encoded")
    return {"key": d.key, "n": d.n, "seen": list(d.seen), "route": d.route, "box": d.box}


async def _spoil_one(d: Doc) -> Doc:
    return attrs.evolve(d, n=1, box="bad" if d.key == "c2" else "")


SPOILS = attrs.evolve(
    workflow("Spoils", process("P", call(_spoil_one))), encode_state=_encode_unless_bad
)


@pytest.mark.parametrize("url", ["memory", "sqlite"], indirect=True)
async def test_a_result_the_store_cannot_take_fails_its_run_and_the_engine_goes_on(
    url: str,
) -> None:
    """One call of five returns a state that cannot be encoded: its run ends FAILED with the
    state it had and the reason, the other four complete, and `run()` returns."""
    async with Engine(url, workflows=[SPOILS]) as engine:
        runs = await asyncio.gather(*(engine.start(SPOILS, Doc(f"c{i}")) for i in range(5)))
        async with asyncio.timeout(5):
            await engine.run(until_idle=True)
        after = [await engine.status(r.id) for r in runs]
    assert [(s.status, s.state.n, s.pending_effects) for s in after if s] == [
        (Status.COMPLETED, 1, 0)
    ] * 2 + [(Status.FAILED, 0, 0)] + [(Status.COMPLETED, 1, 0)] * 2
    error = after[2].error if after[2] else None
    assert error is not None and error.startswith("the state after event call/"), error
    assert error.endswith("cannot be stored: ValueError: this state cannot be encoded"), error
