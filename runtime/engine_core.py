"""Processing one event for one instance, the heart of the engine.

load -> decode -> machine.apply -> (unchanged: stop) -> compare-and-set the record WITH its outbox ->
perform the outbox -> compare-and-set the outbox away. A crash anywhere leaves either the old record
(the event is redelivered) or the new one with its outbox (performed again on recovery: effects are
at least once, with stable ids); `instance.applied` makes a redelivered event a no-op.

Events of one instance are serialised by a lock per instance id inside one engine, so the
compare-and-set only ever races with other processes. A RunCall stays in the outbox until its
CallFinished is applied: a call lost in a crash is run again on recovery.

A store that is also an `IndexingStore` (SQLite, Aerospike) takes a step's index changes (waits,
timers, the removal of the timer that fired) in the same atomic write as the record: they need no
outbox entry and no round trip of their own, and the clearing write also reads the messages kept
for the new listeners. Any other store gets each change as a call of its own, after the record,
from the outbox. A start writes create-only without reading first: an existing run stays as it is.
A stored record whose `outbox` flag is false has nothing left to perform, whatever its data lists
(a `BatchStore` clears a performed outbox by its flag alone). `engine_batch` takes the same steps
for many runs at once over such a store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Protocol

from runtime import machine, record
from runtime.engine_api import ConflictError, UnknownWorkflowError, unreadable
from runtime.engine_outbox import (
    DecodedRecords,
    Plan,
    Refusals,
    direct_waits,
    in_order,
    indirect,
    kept_event,
    kept_incoming,
    observe_finish,
    observe_step,
    owed,
    send_plans,
    settle,
    split_index,
    storable,
    unit_of_work,
    without,
)
from runtime.engine_registry import Registry
from runtime.engine_sync import Locks, Slots
from runtime.ops import logs
from runtime.ops.hooks import EngineObserver
from runtime.types import (
    Broker,
    CompiledWorkflow,
    DecodeError,
    Effect,
    EncodeError,
    Event,
    Incoming,
    IndexEffect,
    IndexingStore,
    Instance,
    Outgoing,
    RecordRefused,
    RunCall,
    Status,
    Store,
    StoredInstance,
    TimerFired,
    Written,
)

_log = logging.getLogger("dagger.engine")
_CAS_ATTEMPTS = 50

Loaded = tuple[CompiledWorkflow[Any], StoredInstance, Instance[Any], tuple[Effect, ...]]


def instance_id(wf: CompiledWorkflow[Any], state: object) -> str:
    """The id of the run of `wf` over `state`: one run per workflow and key."""
    return f"{wf.name}:{wf.key(state)}"


class CallLauncher(Protocol):
    def launch(self, wf: CompiledWorkflow[Any], instance: Instance[Any], call: RunCall) -> None: ...


class Core:
    """Applies events to instances and performs their effects, over one broker and one store."""

    dead_letter: Callable[[Incoming, str], Awaitable[None]]  # set by the engine's Intake

    def __init__(
        self,
        broker: Broker,
        store: Store,
        registry: Registry,
        observer: EngineObserver,
        *,
        retention: float | None,
        max_steps: int = 64,
    ) -> None:
        self.broker = broker
        self.store = store
        self.registry = registry
        self.observer = observer
        self.retention = retention
        self.locks = Locks()
        self.slots = Slots(max_steps)
        self.decoded = DecodedRecords(32_768)
        self.refusals = Refusals()
        self.calls: CallLauncher | None = None
        self.timer_set: Callable[[float], None] = lambda due: None
        self.unit, self.in_one_unit = unit_of_work(broker, store)
        self._indexing = store if isinstance(store, IndexingStore) else None
        self.max_message_bytes = broker.max_message_bytes  # the machine fails longer commands
        self.activity = 0  # bumped as work starts and ends; the idle check compares it
        self.inflight = 0

    # ------------------------------------------------------------------ entry points

    async def start(self, wf: CompiledWorkflow[Any], state: object) -> tuple[str, bool]:
        """Create the run for `state` unless its key exists; (id, created). Nothing is read
        first: the create-only write fails when the run exists, and then changes nothing."""
        iid = instance_id(wf, state)
        created = False

        async def create() -> Plan | None:
            nonlocal created
            limit = self.max_message_bytes
            t = machine.start(wf, state, now=time.time(), instance_id=iid, max_message_bytes=limit)
            index, todo = self.split(t.effects, None)
            recorded = self.recorded(todo)
            gen = (await self._put(wf, t.instance, recorded, 0, index=index)).generation
            if gen is None:
                return None  # it exists, or another process created it a moment ago
            created = True
            self.observer.on_status(iid, wf.name, Status.EXECUTING)
            observe_finish(self.observer, t.instance, t.effects)
            return await self._perform(
                wf, t.instance, todo, gen, recorded, written=index, direct=direct_waits(t.effects)
            )

        with logs.instance_context(instance_id=iid, workflow=wf.name):
            await self._step(iid, create, urgent=False)
        return iid, created

    async def process(self, iid: str, event: Event) -> None:
        """Apply `event` to instance `iid` (a missing one is logged and skipped). UnreadableRunError,
        nothing changed, for a run of a workflow it does not serve or of another build of one."""
        with logs.instance_context(instance_id=iid, event_id=event.event_id):
            await self._step(iid, lambda: self._apply(iid, event))

    async def recover(self, iid: str) -> None:
        """Perform whatever the outbox of `iid` still holds (after a crash or a hand-off).
        Raises UnreadableRunError for a run this engine cannot read (see `process`)."""

        async def perform_left() -> Plan | None:
            try:
                loaded = await self.load(iid)
            except (UnknownWorkflowError, DecodeError) as exc:
                raise unreadable(iid, exc) from exc
            if loaded is None or not loaded[3]:
                return None
            wf, stored, instance, outbox = loaded
            return await self._perform(wf, instance, outbox, stored.generation, outbox)

        await self._step(iid, perform_left)

    async def _step(
        self, iid: str, body: Callable[[], Awaitable[Plan | None]], *, urgent: bool = True
    ) -> None:
        """Run `body` in a slot, under the instance's lock, as one unit of work where the
        backends allow; then start the calls it owes and deliver messages kept for its new
        listeners (outside the slot: that delivery is a step of its own)."""
        async with self.working():
            async with self.slots.hold(urgent), self.locks.hold(iid):
                async with self.unit():
                    plan = await body()
                if plan is not None and self.calls is not None:
                    for call in plan.calls:
                        self.calls.launch(plan.wf, plan.instance, call)
            if plan is not None:
                await self.deliver_early(iid, plan)

    @contextlib.asynccontextmanager
    async def working(self) -> AsyncIterator[None]:
        """Counts work in progress, and marks its start and end for the idle check."""
        self.activity += 1
        self.inflight += 1
        try:
            yield
        finally:
            self.inflight -= 1
            self.activity += 1

    async def load(self, iid: str) -> Loaded | None:
        began = time.perf_counter()
        stored = await self.store.get(iid)
        self.observer.on_store("get", time.perf_counter() - began)
        if stored is None:
            return None
        wf, instance, outbox = self.decode(stored)
        return wf, stored, instance, outbox

    def decode(
        self, stored: StoredInstance
    ) -> tuple[CompiledWorkflow[Any], Instance[Any], tuple[Effect, ...]]:
        """The workflow, instance and outbox still owed of a stored record (the outbox flag
        rule above); UnknownWorkflowError, DecodeError."""
        wf = self.registry.workflow(stored.workflow)
        instance, outbox = self.decoded.get(wf, stored.id, stored.data)
        return wf, instance, outbox if stored.outbox else ()

    # ------------------------------------------------------------------ one event

    async def _apply(self, iid: str, event: Event) -> Plan | None:
        refused: str | None = None  # why this step's record could not be stored
        for _ in range(_CAS_ATTEMPTS):
            try:
                loaded = await self.load(iid)
            except (UnknownWorkflowError, DecodeError) as exc:
                raise unreadable(iid, exc) from exc
            if loaded is None:
                _log.debug("instance %s does not exist; %s dropped", iid, event.event_id)
                await self._timer_done(iid, event)
                return None
            wf, stored, instance, outbox = loaded
            began = time.perf_counter()
            limit = self.max_message_bytes
            t = machine.apply(wf, instance, event, now=time.time(), max_message_bytes=limit)
            t = storable(wf, instance, event, t, refused)
            seconds = time.perf_counter() - began
            pending = (*settle(outbox, event), *t.effects)
            if t.instance is instance and pending == outbox:
                await self._timer_done(iid, event)
                return None
            index, todo = self.split(pending, event)
            recorded = self.recorded(todo)
            try:
                written = await self._put(wf, t.instance, recorded, stored.generation, index=index)
            except (EncodeError, RecordRefused) as exc:
                if refused is not None:
                    raise  # even the run as it was
                refused = exc.why if isinstance(exc, EncodeError) else str(exc)
                continue  # so the run ends FAILED as it was
            gen = written.generation
            if gen is None:
                continue
            observe_step(self.observer, wf, instance, event, t, seconds=seconds)
            if self._indexing is None:  # else the fired timer went with the record
                await self._timer_done(iid, event)
            return await self._perform(
                wf, t.instance, todo, gen, recorded, written=index, direct=direct_waits(t.effects)
            )
        raise ConflictError(
            f"instance {iid}: compare-and-set lost {_CAS_ATTEMPTS} times in a row applying "
            f"{event.event_id}; another process keeps rewriting it"
        )

    async def _put(
        self,
        wf: CompiledWorkflow[Any],
        inst: Instance[Any],
        outbox: tuple[Effect, ...],
        gen: int,
        *,
        index: tuple[IndexEffect, ...] = (),
        peek: Sequence[tuple[str, str]] = (),
    ) -> Written:
        """Compare-and-set the record with its outbox; `index` and `peek` go to a store that
        writes index changes with the record (`split` gives none to any other store)."""
        stored = record.to_stored(wf, inst, outbox, generation=gen, retention=self.retention)
        began = time.perf_counter()
        if self._indexing is not None:
            written = await self._indexing.put_indexed(stored, gen, index, peek)
        else:
            written = Written(await self.store.put(stored, gen))
        self.observer.on_store("put", time.perf_counter() - began)
        if written.refused is not None:
            raise RecordRefused(written.refused)
        if written.generation is not None:
            self.decoded.keep(stored.id, stored.data, inst, outbox)
        return written

    def split(
        self, effects: tuple[Effect, ...], event: Event | None
    ) -> tuple[tuple[IndexEffect, ...], tuple[Effect, ...]]:
        """(index changes to write with the record, the effects to perform once it is written)."""
        if self._indexing is None:
            return (), indirect(effects)
        return split_index(effects, event)

    async def _timer_done(self, iid: str, event: Event) -> None:
        """A fired timer leaves the due index once its event is recorded (or turned out moot),
        before new effects run: a SetTimer among them may reuse the id."""
        if isinstance(event, TimerFired):
            await self.store.remove_timer(iid, event.timer_id)

    # ------------------------------------------------------------------ the outbox

    async def _perform(
        self,
        wf: CompiledWorkflow[Any],
        instance: Instance[Any],
        todo: tuple[Effect, ...],
        gen: int,
        recorded: tuple[Effect, ...],
        *,
        written: tuple[IndexEffect, ...] = (),
        direct: Sequence[tuple[str, str]] = (),
    ) -> Plan:
        """Perform every effect of `todo` but the calls (the caller starts those), then clear
        them from the stored outbox (`recorded`, stored at generation `gen`) unless it holds only
        calls. `written` are the index changes the record was written with, `direct` the waits
        of `by_key` listeners that started (in no index; their kept messages are looked up)."""
        plan = Plan(wf, instance)
        for w in written:
            plan.note(w)
        plan.early.extend(direct)
        for e in todo:
            plan.effect(self.store, instance.id, e)
        if self.in_one_unit:  # nothing waits for a commit: in order is as fast
            for group in plan.ops.values():
                await in_order(group)
            await send_plans(self.send, [plan], self.refusals)
        else:
            jobs = [in_order(group) for group in plan.ops.values()]
            if plan.sends:
                jobs.append(send_plans(self.send, [plan], self.refusals))
            await asyncio.gather(*jobs)
        for due in plan.dues:
            self.timer_set(due)
        if recorded != owed(recorded):
            await self.clear(wf, instance, recorded, gen, plan)
        return plan

    async def send(self, messages: list[Outgoing]) -> None:
        began = time.perf_counter()
        await self.broker.send(messages)
        self.observer.on_broker("send", time.perf_counter() - began)

    def recorded(self, outbox: tuple[Effect, ...]) -> tuple[Effect, ...]:
        """The outbox to store with a new record. In one unit of work the effects commit with
        the record, so only the calls stay owed; elsewhere all of it, until performed."""
        return owed(outbox) if self.in_one_unit else outbox

    async def clear(
        self,
        wf: CompiledWorkflow[Any],
        instance: Instance[Any],
        outbox: tuple[Effect, ...],
        gen: int,
        plan: Plan,
    ) -> None:
        """Drop the performed effects from the stored outbox; on a conflict, reload and retry.
        A store that writes index changes with the record reads the messages kept for the new
        listeners in the same round trip."""
        peek = plan.early if self._indexing is not None else []
        for _ in range(_CAS_ATTEMPTS):
            written = await self._put(wf, instance, without(outbox, plan.done), gen, peek=peek)
            if written.generation is not None:
                if peek:
                    plan.kept(written.early)
                return
            loaded = await self.load(instance.id)
            if loaded is None:
                return
            wf, stored, instance, outbox = loaded
            gen = stored.generation
        raise ConflictError(f"instance {instance.id}: could not clear its outbox")

    async def deliver_early(self, iid: str, plan: Plan) -> None:
        """Messages kept for a (topic, key) before this instance listened to it, in arrival order
        (as read with the clearing put, else read now)."""
        for topic, key in dict.fromkeys(plan.early):
            spec = self.registry.topics.get(topic)
            peeked = None if plan.peeked is None else plan.peeked.get((topic, key))
            for kept in await self.store.take_early(topic, key) if peeked is None else peeked:
                event = None if spec is None else kept_event(spec, kept)
                if isinstance(event, str):  # this build cannot decode it
                    await self.dead_letter(kept_incoming(kept), event)
                elif event is not None:
                    await self.process(iid, event)
                await self.store.remove_early(topic, key, kept.message_id)
