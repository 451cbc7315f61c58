"""Processing one event for one instance, the heart of the engine.

load -> decode -> machine.apply -> (unchanged: stop) -> compare-and-set the record WITH its outbox ->
perform the outbox -> compare-and-set the outbox away. A crash anywhere leaves either the old record
(the event is redelivered) or the new one with its outbox (performed again on recovery: effects are
at least once, with stable ids); `instance.applied` makes a redelivered event a no-op.

Events of one instance are serialised by a lock per instance id inside one engine, so the
compare-and-set only ever races with other processes. A RunCall stays in the outbox until its
CallFinished is applied: a call lost in a crash is run again on recovery.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol

import attrs

from runtime import machine, record
from runtime.backends.sqlite import SqliteBroker, SqliteStore
from runtime.engine_api import ConflictError, UnknownWorkflowError, node_kind
from runtime.engine_registry import Registry
from runtime.engine_sync import Locks, Slots
from runtime.ops.hooks import EngineObserver
from runtime.types import (
    MESSAGE_ID_HEADER,
    AddWait,
    Broker,
    CallFinished,
    CancelTimer,
    CompiledWorkflow,
    DecodeError,
    DueTimer,
    Effect,
    Event,
    Finished,
    Instance,
    MessageArrived,
    Outgoing,
    RemoveWait,
    RunCall,
    Send,
    SetTimer,
    Status,
    Store,
    StoredInstance,
    TimerFired,
    Transition,
)

_log = logging.getLogger("dagger.engine")
_CAS_ATTEMPTS = 50

Loaded = tuple[CompiledWorkflow[Any], StoredInstance, Instance[Any], tuple[Effect, ...]]
Early = list[tuple[str, str]]  # (topic, key) pairs a new listener waits on


class CallLauncher(Protocol):
    def launch(self, wf: CompiledWorkflow[Any], instance: Instance[Any], call: RunCall) -> None: ...


class Core:
    """Applies events to instances and performs their effects, over one broker and one store."""

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
        self._decoded = DecodedRecords()
        self.calls: CallLauncher | None = None
        self.timer_set: Callable[[float], None] = lambda due: None
        self._unit, self._in_one_unit = _unit_of_work(broker, store)
        self.activity = 0  # bumped as work starts and ends; the idle check compares it
        self.inflight = 0

    # ------------------------------------------------------------------ entry points

    async def start(self, wf: CompiledWorkflow[Any], state: object) -> tuple[str, bool]:
        """Create the run for `state` unless its key exists; (id, created)."""
        iid = f"{wf.name}:{wf.key(state)}"
        created = False

        async def create() -> _Plan | None:
            nonlocal created
            if await self.store.get(iid) is not None:
                return None
            t = machine.start(wf, state, now=time.time(), instance_id=iid)
            gen = await self._put(wf, t.instance, self._recorded(t.effects), 0)
            if gen is None:
                return None  # another process created it a moment ago
            created = True
            self.observer.on_status(iid, wf.name, Status.EXECUTING)
            self._observe_finish(t.instance, t.effects)
            return await self._perform(wf, t.instance, t.effects, gen, self._recorded(t.effects))

        await self._step(iid, create, urgent=False)
        return iid, created

    async def process(self, iid: str, event: Event) -> None:
        """Apply `event` to instance `iid` (a missing instance is logged and skipped)."""
        await self._step(iid, lambda: self._apply(iid, event))

    async def recover(self, iid: str) -> None:
        """Perform whatever the outbox of `iid` still holds (after a crash or a hand-off)."""

        async def perform_left() -> _Plan | None:
            loaded = await self.load(iid)
            if loaded is None or not loaded[3]:
                return None
            wf, stored, instance, outbox = loaded
            return await self._perform(wf, instance, outbox, stored.generation, outbox)

        await self._step(iid, perform_left)

    async def _step(
        self, iid: str, body: Callable[[], Awaitable[_Plan | None]], *, urgent: bool = True
    ) -> None:
        """Run `body` in a slot, under the instance's lock, as one unit of work where the
        backends allow; then start the calls it owes and deliver messages kept for its new
        listeners (outside the slot: that delivery is a step of its own)."""
        async with self._working():
            async with self.slots.hold(urgent), self.locks.hold(iid):
                async with self._unit():
                    plan = await body()
                if plan is not None and self.calls is not None:
                    for call in plan.calls:
                        self.calls.launch(plan.wf, plan.instance, call)
            if plan is not None:
                await self._deliver_early(iid, plan.early)

    @contextlib.asynccontextmanager
    async def _working(self) -> AsyncIterator[None]:
        """Counts work in progress, and marks its start and end for the idle check."""
        self.activity += 1
        self.inflight += 1
        try:
            yield
        finally:
            self.inflight -= 1
            self.activity += 1

    async def load(self, iid: str) -> Loaded | None:
        stored = await self.store.get(iid)
        if stored is None:
            return None
        wf = self.registry.workflow(stored.workflow)
        instance, outbox = self._decoded.get(wf, iid, stored.data)
        return wf, stored, instance, outbox

    # ------------------------------------------------------------------ one event

    async def _apply(self, iid: str, event: Event) -> _Plan | None:
        for _ in range(_CAS_ATTEMPTS):
            try:
                loaded = await self.load(iid)
            except (UnknownWorkflowError, DecodeError) as exc:
                _log.error("instance %s: cannot apply %s: %s", iid, event.event_id, exc)
                return None
            if loaded is None:
                _log.debug("instance %s does not exist; %s dropped", iid, event.event_id)
                await self._timer_done(iid, event)
                return None
            wf, stored, instance, outbox = loaded
            began = time.perf_counter()
            t = machine.apply(wf, instance, event, now=time.time())
            seconds = time.perf_counter() - began
            pending = (*_settle(outbox, event), *t.effects)
            if t.instance is instance and pending == outbox:
                await self._timer_done(iid, event)
                return None
            recorded = self._recorded(pending)
            gen = await self._put(wf, t.instance, recorded, stored.generation)
            if gen is None:
                continue
            self._observe(wf, instance, event, t, seconds)
            await self._timer_done(iid, event)
            return await self._perform(wf, t.instance, pending, gen, recorded)
        raise ConflictError(
            f"instance {iid}: compare-and-set lost {_CAS_ATTEMPTS} times in a row applying "
            f"{event.event_id}; another process keeps rewriting it"
        )

    async def _put(
        self, wf: CompiledWorkflow[Any], inst: Instance[Any], outbox: tuple[Effect, ...], gen: int
    ) -> int | None:
        stored = record.to_stored(wf, inst, outbox, generation=gen, retention=self.retention)
        new: int | None = await self.store.put(stored, gen)
        if new is not None:
            self._decoded.keep(stored.id, stored.data, inst, outbox)
        return new

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
        outbox: tuple[Effect, ...],
        gen: int,
        recorded: tuple[Effect, ...],
    ) -> _Plan:
        """Perform every effect but the calls (the caller starts those), then clear them from
        the stored outbox (`recorded`, stored at generation `gen`) unless it holds only calls."""
        plan = _Plan(wf, instance)
        for e in outbox:
            self._plan(plan, instance.id, e)
        if self._in_one_unit:  # nothing waits for a commit: in order is as fast
            for group in plan.ops.values():
                await _in_order(group)
            if plan.sends:
                await self.broker.send(plan.sends)
        else:
            jobs = [_in_order(group) for group in plan.ops.values()]
            if plan.sends:
                jobs.append(self.broker.send(plan.sends))
            await asyncio.gather(*jobs)
        for due in plan.dues:
            self.timer_set(due)
        if recorded != _owed(recorded):
            await self._clear(wf, instance, outbox, gen, plan.done)
        return plan

    def _recorded(self, outbox: tuple[Effect, ...]) -> tuple[Effect, ...]:
        """The outbox to store with a new record. In one unit of work the effects commit with
        the record, so only the calls stay owed; elsewhere all of it, until performed."""
        return _owed(outbox) if self._in_one_unit else outbox

    def _plan(self, plan: _Plan, iid: str, e: Effect) -> None:
        """Sort one effect into the plan; store calls on one slot keep their order."""
        s = self.store
        if isinstance(e, RunCall):
            plan.calls.append(e)
            return
        plan.done.append(e)
        if isinstance(e, Send):
            plan.sends.append(_outgoing(e))
        elif isinstance(e, AddWait):
            plan.early.append((e.topic, e.key))
            plan.op(("w", e.topic, e.key), functools.partial(s.add_wait, e.topic, e.key, iid))
        elif isinstance(e, RemoveWait):
            plan.op(("w", e.topic, e.key), functools.partial(s.remove_wait, e.topic, e.key, iid))
        elif isinstance(e, SetTimer):
            plan.dues.append(e.due)
            plan.op(
                ("t", e.timer_id), functools.partial(s.add_timer, DueTimer(iid, e.timer_id, e.due))
            )
        elif isinstance(e, CancelTimer):
            plan.op(("t", e.timer_id), functools.partial(s.remove_timer, iid, e.timer_id))

    async def _clear(
        self,
        wf: CompiledWorkflow[Any],
        instance: Instance[Any],
        outbox: tuple[Effect, ...],
        gen: int,
        done: Sequence[Effect],
    ) -> None:
        """Drop the performed effects from the stored outbox; on a conflict, reload and retry."""
        for _ in range(_CAS_ATTEMPTS):
            if await self._put(wf, instance, _without(outbox, done), gen) is not None:
                return
            loaded = await self.load(instance.id)
            if loaded is None:
                return
            wf, stored, instance, outbox = loaded
            gen = stored.generation
        raise ConflictError(f"instance {instance.id}: could not clear its outbox")

    async def _deliver_early(self, iid: str, pairs: Early) -> None:
        """Messages kept for a (topic, key) before this instance listened to it, in arrival order."""
        for topic, key in pairs:
            spec = self.registry.topics.get(topic)
            for kept in await self.store.take_early(topic, key):
                if spec is not None:
                    message = spec.decode(kept.value)  # it decoded when it was kept
                    event = MessageArrived(kept.message_id, topic, key, message)
                    await self.process(iid, event)
                await self.store.remove_early(topic, key, kept.message_id)

    # ------------------------------------------------------------------ observation

    def _observe(
        self,
        wf: CompiledWorkflow[Any],
        before: Instance[Any],
        event: Event,
        t: Transition[Any],
        seconds: float,
    ) -> None:
        self.observer.on_transition(wf.name, _event_kind(wf, before, event), seconds)
        if t.instance.status is not before.status:
            self._observe_finish(t.instance, t.effects)

    def _observe_finish(self, instance: Instance[Any], effects: Iterable[Effect]) -> None:
        for e in effects:
            if isinstance(e, Finished):
                self.observer.on_status(instance.id, instance.workflow, e.status)


@attrs.define
class _Plan:
    """The outbox sorted by what performs it."""

    wf: CompiledWorkflow[Any]
    instance: Instance[Any]
    ops: dict[tuple[str, ...], list[Callable[[], Awaitable[None]]]] = attrs.Factory(dict)
    sends: list[Outgoing] = attrs.Factory(list)
    calls: list[RunCall] = attrs.Factory(list)
    done: list[Effect] = attrs.Factory(list)
    early: Early = attrs.Factory(list)
    dues: list[float] = attrs.Factory(list)

    def op(self, slot: tuple[str, ...], call: Callable[[], Awaitable[None]]) -> None:
        self.ops.setdefault(slot, []).append(call)


class DecodedRecords:
    """The records this engine wrote last, decoded: the next step of a run usually reads back
    exactly those bytes, and decoding a record costs more than the rest of the step."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._kept: collections.OrderedDict[str, tuple[bytes, Instance[Any], tuple[Effect, ...]]]
        self._kept = collections.OrderedDict()

    def keep(
        self, iid: str, data: bytes, instance: Instance[Any], outbox: tuple[Effect, ...]
    ) -> None:
        self._kept[iid] = (data, instance, outbox)
        self._kept.move_to_end(iid)
        if len(self._kept) > self._size:
            self._kept.popitem(last=False)

    def get(
        self, wf: CompiledWorkflow[Any], iid: str, data: bytes
    ) -> tuple[Instance[Any], tuple[Effect, ...]]:
        kept = self._kept.get(iid)
        if kept is not None and kept[0] == data and kept[1].version == wf.version:
            self._kept.move_to_end(iid)
            return kept[1], kept[2]
        instance, outbox = record.decode(wf, data)
        self.keep(iid, data, instance, outbox)
        return instance, outbox


def _unit_of_work(
    broker: Broker, store: Store
) -> tuple[Callable[[], contextlib.AbstractAsyncContextManager[None]], bool]:
    """When the broker and the store share one SQLite connection, a whole step (the new record,
    its messages, the cleared outbox) commits at once; elsewhere each write is durable on its own
    before the next effect, which is what makes the outbox necessary."""
    if (
        isinstance(store, SqliteStore)
        and isinstance(broker, SqliteBroker)
        and store.db is broker.db
    ):
        return store.db.deferred, True
    return contextlib.nullcontext, False


def _outgoing(e: Send) -> Outgoing:
    return Outgoing(e.topic, e.key, e.value, ((MESSAGE_ID_HEADER, e.message_id.encode()),))


async def _in_order(calls: list[Callable[[], Awaitable[None]]]) -> None:
    for call in calls:
        await call()


def _settle(outbox: tuple[Effect, ...], event: Event) -> tuple[Effect, ...]:
    """A finished call attempt is no longer owed, whatever the machine makes of its result."""
    if not isinstance(event, CallFinished):
        return outbox
    owed = RunCall(event.node, event.attempt)
    return tuple(e for e in outbox if e != owed)


def _owed(outbox: tuple[Effect, ...]) -> tuple[Effect, ...]:
    """What stays owed once every other effect is performed: the calls still to finish."""
    return tuple(e for e in outbox if isinstance(e, RunCall))


def _without(outbox: tuple[Effect, ...], done: Sequence[Effect]) -> tuple[Effect, ...]:
    left = list(outbox)
    for e in done:
        with contextlib.suppress(ValueError):
            left.remove(e)
    return tuple(left)


def _event_kind(wf: CompiledWorkflow[Any], before: Instance[Any], event: Event) -> str:
    """The kind of node an event was for (`listen`, `call`, ...), for metrics."""
    node: int | None = None
    if isinstance(event, MessageArrived):
        node = next((w.node for w in before.waits if w.topic == event.topic), None)
    elif isinstance(event, TimerFired):
        node = next((t.node for t in before.timers if t.timer_id == event.timer_id), None)
    elif isinstance(event, CallFinished):
        node = event.node
    if node is None or not 0 <= node < len(wf.nodes):
        return type(event).__name__.lower()
    return node_kind(wf.nodes[node])
