"""Steps of many instances at once, over a store that is a `BatchStore` (SQLite, Aerospike).

A batch of fetched messages, or the starts made in one event-loop iteration, is taken as one step:
the records read in one query, each event applied by the machine, the new records (with their
index changes, and reading the messages kept for new listeners) written in one transaction, every
message they send in one `Broker.send`, and the outboxes cleared in one more transaction. Per
instance this is the one-at-a-time step of `engine_core` (the same records, the same effects in
the same order, the same compare-and-set), so a crash anywhere leaves each instance as that step
would; only the round trips and the event-loop hops are shared.

Each instance appears at most once in a batch (callers send repeats the one-at-a-time way). An
instance that another step of this engine holds goes through `Core.process` / `Core.start` on its
own after the batch, and so does an event whose compare-and-set lost to another process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, TypeVar

from attrs import define, frozen

from runtime import machine, record
from runtime.engine_api import UnknownWorkflowError, unreadable
from runtime.engine_core import Core, instance_id
from runtime.engine_outbox import (
    Plan,
    direct_waits,
    in_order,
    observe_finish,
    observe_step,
    owed,
    send_plans,
    settle,
    without,
)
from runtime.gathered import Gathered
from runtime.types import (
    AddWait,
    BatchStore,
    Clear,
    CompiledWorkflow,
    DecodeError,
    Effect,
    Event,
    Instance,
    Put,
    Status,
    StoredInstance,
    TimerFired,
    Transition,
    Written,
)

T = TypeVar("T")
Outcome = bool | Exception  # of a job: changed its run (a start: created it), or a start's error
_log = logging.getLogger("dagger.engine")


class _Alone(Exception):
    """A job the one-at-a-time step does better (a timer that fired for nothing)."""


@frozen
class Job:
    """One instance's part of a batch: an event for it, or (event None) a start of `wf`."""

    iid: str
    event: Event | None = None
    wf: CompiledWorkflow[Any] | None = None
    state: object = None


@define
class _Step:
    """A job applied by the machine, its new record not yet written."""

    job: Job
    wf: CompiledWorkflow[Any]
    before: Instance[Any] | None
    t: Transition[Any]
    seconds: float
    recorded: tuple[Effect, ...]
    todo: tuple[Effect, ...]
    put: Put
    plan: Plan | None = None


class Batches:
    """Runs batches of jobs for one Core. Starts made in one event-loop iteration are gathered
    into batches, and so are the events handed to `process` (call results, timers)."""

    def __init__(self, core: Core, store: BatchStore, size: int = 256) -> None:
        self.core = core
        self.store = store
        self._starts = Gathered(self._create, size)
        self._events = Gathered(self._apply_all, size)

    async def start(self, wf: CompiledWorkflow[Any], state: object) -> tuple[str, bool]:
        """`Core.start`, sharing a batch with the other starts of this event-loop iteration."""
        iid = instance_id(wf, state)
        return iid, await self._starts(Job(iid, None, wf, state))

    async def process(self, iid: str, event: Event) -> None:
        """`Core.process`, sharing a batch with the other events of this event-loop iteration."""
        await self._events(Job(iid, event))

    async def _create(self, jobs: list[Job]) -> list[Outcome]:
        """Whether each start created its run; the same key twice at once: the first one did."""
        firsts: dict[str, Job] = {}
        for job in jobs:
            firsts.setdefault(job.iid, job)
        made = dict(zip(firsts, await self.run(list(firsts.values()), urgent=False), strict=True))
        return [made.pop(job.iid, False) for job in jobs]

    async def _apply_all(self, jobs: list[Job]) -> list[Outcome | None]:
        """Events in rounds: the first event of each run, then the second, ... (in order)."""
        rounds: list[list[int]] = []  # indexes into `jobs`
        seen: dict[str, int] = {}
        for at, job in enumerate(jobs):
            n = seen[job.iid] = seen.get(job.iid, -1) + 1
            if n == len(rounds):
                rounds.append([])
            rounds[n].append(at)
        outcomes: list[Outcome | None] = [None] * len(jobs)
        for members in rounds:
            done = await self.run([jobs[at] for at in members])
            for at, outcome in zip(members, done, strict=True):
                if isinstance(outcome, Exception):
                    outcomes[at] = outcome  # that caller's error, not the others'
        return outcomes

    # ------------------------------------------------------------------ a batch

    async def run(
        self,
        jobs: Sequence[Job],
        *,
        urgent: bool = True,
        rounds: int = 3,
        read: Mapping[str, StoredInstance] | None = None,
    ) -> list[Outcome]:
        """Each job's step; per job, whether it changed its run (a start: created it), or the
        error of its step. Jobs of runs that other steps hold wait for them and make a batch of
        their own, up to `rounds` times; then they go one at a time, as do jobs whose step
        raised (so the error is that job's alone). An error of the batch itself is raised.
        `read`: records the caller read just before (the step's compare-and-set catches one that
        moved since, and that job goes again alone)."""
        core = self.core
        done: dict[str, Outcome] = dict.fromkeys((j.iid for j in jobs), False)
        async with core.working():
            async with core.slots.hold(urgent):
                claimed = set(await core.locks.claim(list(done)))
                try:
                    steps, again = await self._write([j for j in jobs if j.iid in claimed], read)
                    for s in steps:
                        done[s.job.iid] = True
                        assert s.plan is not None
                        if core.calls is not None:
                            for call in s.plan.calls:
                                core.calls.launch(s.wf, s.t.instance, call)
                finally:
                    core.locks.release(list(claimed))
            for s in steps:
                assert s.plan is not None
                if s.plan.early:
                    await core.deliver_early(s.job.iid, s.plan)
        busy = [j for j in jobs if j.iid not in claimed]
        if busy and rounds > 1:
            await core.locks.wait_free([j.iid for j in busy])
            retried = await self.run(busy, urgent=urgent, rounds=rounds - 1)
            done.update(zip((j.iid for j in busy), retried, strict=True))
            busy = []
        await asyncio.gather(*(self._alone(j, done) for j in busy + again))
        return [done[j.iid] for j in jobs]

    async def _alone(self, job: Job, done: dict[str, Outcome]) -> None:
        try:
            if job.event is not None:
                await self.core.process(job.iid, job.event)
                done[job.iid] = True
            else:
                assert job.wf is not None
                _iid, done[job.iid] = await self.core.start(job.wf, job.state)
        except Exception as exc:
            done[job.iid] = exc

    async def _write(
        self, jobs: list[Job], read: Mapping[str, StoredInstance] | None = None
    ) -> tuple[list[_Step], list[Job]]:
        """Read, apply, write, send, clear; (the steps written, the jobs to do again alone:
        those whose step raised, and messages whose compare-and-set lost to another process)."""
        core = self.core
        again: list[Job] = []
        async with core.unit():
            known = read or {}
            reads = [j.iid for j in jobs if j.event is not None and j.iid not in known]
            stored = dict(await self._timed("get", self.store.get_many(reads))) if reads else {}
            stored.update((j.iid, known[j.iid]) for j in jobs if j.iid in known)
            steps: list[_Step] = []
            for j in jobs:
                try:
                    step = self._apply(j, stored.get(j.iid))
                except Exception:
                    again.append(j)
                    continue
                if step is not None:
                    steps.append(step)
            if not steps:
                return [], again
            written = await self._timed("put", self.store.put_many([s.put for s in steps]))
            kept: list[_Step] = []
            for s, w in zip(steps, written, strict=True):
                if w.generation is None:
                    if s.job.event is not None or w.refused:  # moved by another, or too big
                        again.append(s.job)
                    continue
                self._written(s, w)
                kept.append(s)
            await self._perform(kept)
            await self._clear(kept)
        return kept, again

    def _apply(self, job: Job, stored: StoredInstance | None) -> _Step | None:
        """The machine's step for `job` and the record to write; None when nothing changes."""
        core, limit = self.core, self.core.max_message_bytes
        outbox: tuple[Effect, ...] = ()
        before: Instance[Any] | None = None
        if job.event is None:
            assert job.wf is not None
            wf, gen = job.wf, 0
            began = time.perf_counter()
            t = machine.start(
                wf, job.state, now=time.time(), instance_id=job.iid, max_message_bytes=limit
            )
        else:
            if stored is None:
                if isinstance(job.event, TimerFired):
                    raise _Alone  # its timer leaves the due index alone
                _log.debug("instance %s does not exist; %s dropped", job.iid, job.event.event_id)
                return None
            try:
                wf, before, outbox = core.decode(stored)
            except (UnknownWorkflowError, DecodeError) as exc:
                raise unreadable(job.iid, exc) from exc  # the job goes alone: Core.process says so
            gen = stored.generation
            began = time.perf_counter()
            t = machine.apply(wf, before, job.event, now=time.time(), max_message_bytes=limit)
        seconds = time.perf_counter() - began
        pending = (*settle(outbox, job.event), *t.effects) if job.event else t.effects
        if t.instance is before and pending == outbox:
            if isinstance(job.event, TimerFired):
                raise _Alone  # a moot timer leaves the due index alone
            return None
        index, todo = core.split(pending, job.event)
        recorded = core.recorded(todo)
        rec = record.to_stored(wf, t.instance, recorded, generation=gen, retention=core.retention)
        peek = tuple((e.topic, e.key) for e in t.effects if isinstance(e, AddWait))
        return _Step(job, wf, before, t, seconds, recorded, todo, Put(rec, gen, index, peek))

    def _written(self, s: _Step, w: Written) -> None:
        """A step's record is written: remember it decoded, tell the observer, plan its effects
        (with the messages kept for its new listeners, read with the record)."""
        core = self.core
        core.decoded.keep(s.job.iid, s.put.record.data, s.t.instance, s.recorded)
        if s.before is None:
            core.observer.on_status(s.job.iid, s.wf.name, Status.EXECUTING)
            observe_finish(core.observer, s.t.instance, s.t.effects)
        else:
            assert s.job.event is not None
            observe_step(core.observer, s.wf, s.before, s.job.event, s.t, seconds=s.seconds)
        s.plan = plan = Plan(s.wf, s.t.instance)
        for i in s.put.index:
            plan.note(i)
        plan.early.extend(direct_waits(s.t.effects))
        if s.put.peek:
            plan.kept(w.early)
        for e in s.todo:
            plan.effect(core.store, s.job.iid, e)

    async def _perform(self, steps: list[_Step]) -> None:
        """Every step's store operations (none over an indexing store) and, in one go, sends."""
        core = self.core
        plans = [s.plan for s in steps if s.plan is not None]
        for plan in plans:
            for group in plan.ops.values():
                await in_order(group)
        await send_plans(core.send, plans, core.refusals)
        for plan in plans:
            for due in plan.dues:
                core.timer_set(due)

    async def _clear(self, steps: list[_Step]) -> None:
        """Mark the performed effects of each outbox done, in one write: an outbox left empty
        only loses its flag (the record is not encoded again); one that still owes calls is
        written without the rest. A record that moved meanwhile is cleared alone, reloading it
        (the kept messages were read with the put)."""
        flags: list[tuple[_Step, Plan, Clear]] = []
        puts: list[tuple[_Step, Plan, Put, tuple[Effect, ...]]] = []
        for s in steps:
            plan = s.plan
            if plan is None or s.recorded == owed(s.recorded):
                continue
            gen = s.put.expected_generation + 1
            left = without(s.recorded, plan.done)
            if not left:
                flags.append((s, plan, Clear(s.job.iid, gen)))
                continue
            rec = record.to_stored(
                s.wf, s.t.instance, left, generation=gen, retention=self.core.retention
            )
            puts.append((s, plan, Put(rec, gen), left))
        if flags:
            written = await self._timed("put", self.store.clear_many([c for *_, c in flags]))
            for (s, plan, _c), w in zip(flags, written, strict=True):
                await self._cleared(s, plan, s.put.record.data, (), w)
        if puts:
            written = await self._timed("put", self.store.put_many([p for _s, _p, p, _l in puts]))
            for (s, plan, p, left), w in zip(puts, written, strict=True):
                await self._cleared(s, plan, p.record.data, left, w)

    async def _cleared(
        self, s: _Step, plan: Plan, data: bytes, left: tuple[Effect, ...], w: Written
    ) -> None:
        core = self.core
        if w.generation is None:
            gen = s.put.expected_generation + 1
            await core.clear(s.wf, s.t.instance, s.recorded, gen, plan)
            return
        core.decoded.keep(s.job.iid, data, s.t.instance, left)

    async def _timed(self, op: str, work: Awaitable[T]) -> T:
        began = time.perf_counter()
        result = await work
        self.core.observer.on_store(op, time.perf_counter() - began)
        return result
