"""Helpers of the core: the outbox sorted into what performs it, the records kept decoded, when
the broker and the store can share one transaction, and a transition whose state cannot be stored."""

from __future__ import annotations

import collections
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import attrs

from runtime import machine, record
from runtime.backends.sqlite import SqliteBroker, SqliteStore
from runtime.engine_api import node_kind
from runtime.ops import tracing
from runtime.ops.hooks import EngineObserver
from runtime.types import (
    MESSAGE_ID_HEADER,
    AddWait,
    Broker,
    CallFinished,
    CancelTimer,
    CompiledWorkflow,
    DueTimer,
    EarlyMessage,
    Effect,
    Event,
    Finished,
    Incoming,
    IndexEffect,
    Instance,
    MessageArrived,
    MessageRefused,
    Outgoing,
    RemoveWait,
    RunCall,
    Send,
    SendFailed,
    SetTimer,
    Store,
    TimerFired,
    TopicSpec,
    Transition,
)

Early = list[tuple[str, str]]  # (topic, key) pairs a new listener waits on

_log = logging.getLogger("dagger.engine")


@attrs.define
class Plan:
    """The outbox sorted by what performs it."""

    wf: CompiledWorkflow[Any]
    instance: Instance[Any]
    ops: dict[tuple[str, ...], list[Callable[[], Awaitable[None]]]] = attrs.Factory(dict)
    sends: list[Outgoing] = attrs.Factory(list)
    calls: list[RunCall] = attrs.Factory(list)
    done: list[Effect] = attrs.Factory(list)
    early: Early = attrs.Factory(list)
    dues: list[float] = attrs.Factory(list)
    peeked: dict[tuple[str, str], list[EarlyMessage]] | None = None  # read with the clearing put

    def op(self, slot: tuple[str, ...], call: Callable[[], Awaitable[None]]) -> None:
        self.ops.setdefault(slot, []).append(call)

    def effect(self, store: Store, iid: str, e: Effect) -> None:
        """Sort one effect of run `iid` into the plan; store calls on one slot keep their
        order (over a store that writes index changes with the record, none comes here)."""
        if isinstance(e, RunCall):
            self.calls.append(e)
            return
        self.done.append(e)
        if isinstance(e, Send):
            self.sends.append(outgoing(e))
        elif isinstance(e, AddWait):
            self.early.append((e.topic, e.key))
            self.op(("w", e.topic, e.key), functools.partial(store.add_wait, e.topic, e.key, iid))
        elif isinstance(e, RemoveWait):
            self.op(
                ("w", e.topic, e.key), functools.partial(store.remove_wait, e.topic, e.key, iid)
            )
        elif isinstance(e, SetTimer):
            self.dues.append(e.due)
            timer = DueTimer(iid, e.timer_id, e.due)
            self.op(("t", e.timer_id), functools.partial(store.add_timer, timer))
        elif isinstance(e, CancelTimer):
            self.op(("t", e.timer_id), functools.partial(store.remove_timer, iid, e.timer_id))

    def note(self, e: IndexEffect) -> None:
        """An index change written with the record: its listener may have messages kept, its
        timer may be due sooner than the timer loop looks."""
        if isinstance(e, AddWait):
            self.early.append((e.topic, e.key))
        elif isinstance(e, SetTimer):
            self.dues.append(e.due)

    def refused(self, reason: str, refusals: Refusals) -> None:
        """The broker refused this plan's messages for good: they stay in the run's outbox
        (`done` loses them), for housekeeping to send again once the broker takes them."""
        self.unsent()
        refusals.report(self.instance.id, self.sends, reason)

    def unsent(self) -> None:
        """This plan's messages were not sent: they stay in the run's outbox."""
        self.done = [e for e in self.done if not isinstance(e, Send)]

    def kept(self, early: tuple[EarlyMessage, ...]) -> None:
        """The messages kept for the new listeners, as read with the clearing put."""
        self.peeked = {pair: [] for pair in self.early}
        for m in early:
            self.peeked.setdefault((m.topic, m.key), []).append(m)


class Refusals:
    """The refusals already in the log. A refused message stays in its run's outbox and every
    housekeeping sweep tries it again: the first refusal of a run's messages is an error in the
    log, the same messages refused again only a debug line."""

    def __init__(self, size: int = 10_000) -> None:
        self._size = size
        self._seen: collections.OrderedDict[tuple[str, tuple[bytes, ...]], None]
        self._seen = collections.OrderedDict()

    def report(self, iid: str, sends: Sequence[Outgoing], reason: str) -> None:
        ids = tuple(v for m in sends for k, v in m.headers if k == MESSAGE_ID_HEADER)
        first = (iid, ids) not in self._seen
        self._seen[(iid, ids)] = None
        if len(self._seen) > self._size:
            self._seen.popitem(last=False)
        _log.log(
            logging.ERROR if first else logging.DEBUG,
            "instance %s: %d message(s) stay in its outbox%s: %s",
            iid,
            len(sends),
            "" if first else " (refused again)",
            reason,
        )


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


def unit_of_work(
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


def outgoing(e: Send) -> Outgoing:
    headers = tracing.inject(((MESSAGE_ID_HEADER, e.message_id.encode()),))
    return Outgoing(e.topic, e.key, e.value, headers)


def kept_event(spec: TopicSpec[Any], kept: EarlyMessage) -> MessageArrived | str:
    """The event of a message kept for a listener, or why this build cannot decode it (another
    build kept it, whose message type differed)."""
    try:
        message = spec.decode(kept.value)
    except Exception as exc:
        return f"cannot decode a kept {kept.topic} message: {type(exc).__name__}: {exc}"
    return MessageArrived(kept.message_id, kept.topic, kept.key, message)


def kept_incoming(kept: EarlyMessage) -> Incoming:
    """A kept message as consumed (its place in the log is gone), for the dead-letter topic."""
    headers = ((MESSAGE_ID_HEADER, kept.message_id.encode()),)
    return Incoming(kept.topic, kept.key, kept.value, headers, partition=-1, offset=-1)


async def send_plans(
    send: Callable[[list[Outgoing]], Awaitable[None]], plans: Sequence[Plan], refusals: Refusals
) -> None:
    """The messages of `plans`, in one `send`. When the broker refuses one for good, each
    plan's go again on their own, and a plan whose messages it refuses keeps them owed. When the
    broker does not take them this time (down, no leader), every plan keeps its messages owed:
    housekeeping sends them again, and the engine goes on."""
    sends = [m for plan in plans for m in plan.sends]
    if not sends:
        return
    try:
        await send(sends)
    except SendFailed as exc:
        for plan in plans:
            plan.unsent()
        owing = sum(1 for p in plans if p.sends)
        _log.warning(
            "%d message(s) of %d run(s) stay in their outboxes, for housekeeping to send: %s",
            len(sends),
            owing,
            exc,
        )
    except MessageRefused:
        for plan in (p for p in plans if p.sends):
            try:
                await send(plan.sends)
            except MessageRefused as exc:
                plan.refused(str(exc), refusals)
            except SendFailed as exc:
                plan.unsent()
                _log.warning(
                    "instance %s: its messages stay in its outbox: %s", plan.instance.id, exc
                )


async def in_order(calls: list[Callable[[], Awaitable[None]]]) -> None:
    for call in calls:
        await call()


def settle(outbox: tuple[Effect, ...], event: Event) -> tuple[Effect, ...]:
    """A finished call attempt is no longer owed, whatever the machine makes of its result."""
    if not isinstance(event, CallFinished):
        return outbox
    owed = RunCall(event.node, event.attempt)
    return tuple(e for e in outbox if e != owed)


def owed(outbox: tuple[Effect, ...]) -> tuple[Effect, ...]:
    """What stays owed once every other effect is performed: the calls still to finish."""
    return tuple(e for e in outbox if isinstance(e, RunCall))


def split_index(
    effects: tuple[Effect, ...], event: Event | None
) -> tuple[tuple[IndexEffect, ...], tuple[Effect, ...]]:
    """For a store that writes index changes with the record: (those changes, in order, led by
    the removal of the timer that fired, if it did; the rest to perform). `Finished` needs no
    performing, and a direct wait no index, so they go in neither."""
    index: list[IndexEffect] = []
    if isinstance(event, TimerFired):
        index.append(CancelTimer(event.timer_id))
    rest: list[Effect] = []
    for e in effects:
        if isinstance(e, AddWait) and e.direct:
            continue  # in no index: see `direct_waits`
        if isinstance(e, AddWait | RemoveWait | SetTimer | CancelTimer):
            index.append(e)
        elif not isinstance(e, Finished):
            rest.append(e)
    return tuple(index), tuple(rest)


def indirect(effects: tuple[Effect, ...]) -> tuple[Effect, ...]:
    """`effects` but the direct waits, for a store that takes index changes one by one."""
    if not any(isinstance(e, AddWait) and e.direct for e in effects):
        return effects
    return tuple(e for e in effects if not (isinstance(e, AddWait) and e.direct))


def direct_waits(effects: Sequence[Effect]) -> list[tuple[str, str]]:
    """The (topic, key) of each `by_key` listener that started waiting on its run's own key: no
    index keeps it (the run is found by its id), but its kept messages are looked up as any
    other new listener's are."""
    return [(e.topic, e.key) for e in effects if isinstance(e, AddWait) and e.direct]


def without(outbox: tuple[Effect, ...], done: Sequence[Effect]) -> tuple[Effect, ...]:
    """What is left of `outbox` once `done` is performed. Usually all of it was, as the very
    objects of the outbox: that is checked by identity, without comparing effects field by field."""
    performed = {id(e) for e in done}
    if len(done) >= len(outbox) and all(id(e) in performed for e in outbox):
        return ()
    left = list(outbox)
    for e in done:
        with contextlib.suppress(ValueError):
            left.remove(e)
    return tuple(left)


def observe_step(
    observer: EngineObserver,
    wf: CompiledWorkflow[Any],
    before: Instance[Any],
    event: Event,
    t: Transition[Any],
    *,
    seconds: float,
) -> None:
    """Tell the observer of a step that changed a run (and of the run's end, if it ended)."""
    observer.on_transition(wf.name, event_kind(wf, before, event), seconds)
    if t.instance.status is not before.status:
        observe_finish(observer, t.instance, t.effects)


def observe_finish(
    observer: EngineObserver, instance: Instance[Any], effects: Iterable[Effect]
) -> None:
    for e in effects:
        if isinstance(e, Finished):
            observer.on_status(instance.id, instance.workflow, e.status)


def event_kind(wf: CompiledWorkflow[Any], before: Instance[Any], event: Event) -> str:
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


def storable(
    wf: CompiledWorkflow[Any],
    before: Instance[Any],
    event: Event,
    t: Transition[Any],
    refused: str | None,
) -> Transition[Any]:
    """`t`, or, when the record of `t` could not be stored (`refused` says why: its state does not
    encode, or the store refuses the record), the run ended FAILED by `event` with the state it
    had. A batch step that fails either way is taken again alone, and comes here."""
    why = refused
    if why is None:
        return t
    what = f"the {event.topic} message" if isinstance(event, MessageArrived) else "event"
    reason = f"the state after {what} {event.event_id} cannot be stored: {why}"
    _log.error("instance %s: %s", before.id, reason)
    return machine.abandon(wf, before, event, reason, now=t.instance.updated_at)
