"""The workflow machine: the pure semantics of every node kind, driven by events.

`start` creates an instance and runs it as far as it goes without waiting; `apply` feeds it one
event. Both return the new instance and the effects the engine must perform, in a deterministic
order. Time is an argument; nothing here reads the clock, draws random numbers or does I/O, so the
same inputs always give the same outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, TypeVar

from runtime.machine_calls import awaits_result, call_finished
from runtime.machine_plan import InvalidWorkflow, plan_for
from runtime.machine_run import Run, UserError, guarded
from runtime.machine_steps import activate, on_timer
from runtime.types import (
    Call,
    CallFinished,
    Cancel,
    CompiledWorkflow,
    Event,
    Instance,
    Listen,
    MessageArrived,
    Status,
    TimerFired,
    Transition,
)

__all__ = ["APPLIED_LIMIT", "InvalidWorkflow", "abandon", "apply", "start", "waits_on"]

S = TypeVar("S")

APPLIED_LIMIT: Final = 256
"""How many of the latest event ids an instance remembers. Older replays are still harmless:
a fired timer, a finished call attempt or a completed listener no longer concerns the instance;
only a message replayed after this many later events, to an instance that waits on the same key
again, could be taken twice. The bound keeps a long poll (one event a second for days) from
growing its record without end."""


def start(
    wf: CompiledWorkflow[S],
    state: S,
    *,
    now: float,
    instance_id: str | None = None,
    max_message_bytes: int | None = None,
) -> Transition[S]:
    """A new instance of `wf` over `state`, run until it first waits (or ends). A command whose
    encoded message is longer than `max_message_bytes` (the broker's limit) fails its node."""
    plan = plan_for(wf)
    if instance_id is None:
        instance_id = f"{wf.name}:{_key(wf, state)}"
    blank = Instance(
        id=instance_id,
        workflow=wf.name,
        version=wf.version,
        status=Status.EXECUTING,
        state=state,
        nodes=plan.blank,
        created_at=now,
        updated_at=now,
    )
    run = Run(wf, plan, blank, now, max_message_bytes)
    run.stack.append(0)
    _drive(run, _drain)
    return Transition(run.instance(blank, ()), tuple(run.effects))


def apply(
    wf: CompiledWorkflow[S],
    instance: Instance[S],
    event: Event,
    *,
    now: float,
    max_message_bytes: int | None = None,
) -> Transition[S]:
    """Feed `event` to `instance`. An event already applied, or one that does not concern the
    instance now, returns the instance unchanged (the same object) and no effects.
    `max_message_bytes` as for `start`."""
    plan = plan_for(wf)
    _check_instance(wf, instance)
    if (
        instance.status is not Status.EXECUTING
        or event.event_id in instance.applied
        or not _concerns(wf, instance, event)
    ):
        return Transition(instance, ())
    run = Run(wf, plan, instance, now, max_message_bytes)
    _drive(run, lambda r: _handle(r, event))
    applied = (*instance.applied, event.event_id)[-APPLIED_LIMIT:]
    return Transition(run.instance(instance, applied), tuple(run.effects))


def abandon(
    wf: CompiledWorkflow[S], instance: Instance[S], event: Event, reason: str, *, now: float
) -> Transition[S]:
    """End `instance` FAILED with `reason`, its state as it was before `event`, which counts as
    applied: the engine's verdict when the transition `event` gave cannot be stored."""
    run = Run(wf, plan_for(wf), instance, now)
    run.finish(Status.FAILED, reason)
    applied = (*instance.applied, event.event_id)[-APPLIED_LIMIT:]
    return Transition(run.instance(instance, applied), tuple(run.effects))


# --------------------------------------------------------------------------- driving


def _drive(run: Run[Any], step: Callable[[Run[Any]], None]) -> None:
    try:
        step(run)
        _drain(run)
    except UserError as err:
        run.fail(err.node, err.message)


def _drain(run: Run[Any]) -> None:
    stack, runs, nodes = run.stack, run.runs, run.wf.nodes
    while stack:
        item = stack.pop()
        if item >= 0:
            if runs[item].status is Status.NOT_STARTED:
                activate(run, nodes[item])
        else:
            run.child_done(~item)


# --------------------------------------------------------------------------- events


def waits_on(instance: Instance[Any], topic: str, key: str) -> bool:
    """Whether a message on `topic` keyed `key` concerns `instance` (it may be finished)."""
    return any(w.key == key and w.topic == topic for w in instance.waits)


def _concerns(wf: CompiledWorkflow[Any], instance: Instance[Any], event: Event) -> bool:
    if isinstance(event, MessageArrived):
        return waits_on(instance, event.topic, event.key)
    if isinstance(event, TimerFired):
        return any(t.timer_id == event.timer_id for t in instance.timers)
    if isinstance(event, CallFinished):
        return awaits_result(wf, instance, event)
    return isinstance(event, Cancel)


def _handle(run: Run[Any], event: Event) -> None:
    if isinstance(event, MessageArrived):
        _deliver(run, event)
    elif isinstance(event, TimerFired):
        timer = run.take_timer(event.timer_id)
        if timer is not None and run.runs[timer.node].status is Status.EXECUTING:
            on_timer(run, run.wf.nodes[timer.node])
    elif isinstance(event, CallFinished):
        node = run.wf.nodes[event.node]
        assert isinstance(node, Call)  # checked by awaits_result
        call_finished(run, node, event)
    elif isinstance(event, Cancel):
        run.finish(Status.STOPPED, event.reason)


def _deliver(run: Run[Any], event: MessageArrived) -> None:
    """Complete every listener that waited on (topic, key) when the message arrived, in order."""
    targets = [w.node for w in run.waits if w.key == event.key and w.topic == event.topic]
    for n in targets:
        node = run.wf.nodes[n]
        if run.status is not Status.EXECUTING or run.runs[n].status is not Status.EXECUTING:
            continue  # an earlier listener's completion stopped this one, or ended the run
        assert isinstance(node, Listen)
        if node.on is not None:
            run.state = guarded(node, node.on, run.state, event.message)
        run.complete(n)
        _drain(run)


# --------------------------------------------------------------------------- checks


def _key(wf: CompiledWorkflow[S], state: S) -> str:
    try:
        return wf.key(state)
    except Exception as exc:
        raise ValueError(
            f"workflow {wf.name}: key(state) raised {type(exc).__name__}: {exc}"
        ) from exc


def _check_instance(wf: CompiledWorkflow[Any], instance: Instance[Any]) -> None:
    if instance.workflow != wf.name or instance.version != wf.version:
        raise ValueError(
            f"instance {instance.id} belongs to {instance.workflow} version {instance.version}, "
            f"not {wf.name} version {wf.version}"
        )
    if len(instance.nodes) != len(wf.nodes):
        raise ValueError(
            f"instance {instance.id} has {len(instance.nodes)} node runs; "
            f"{wf.name} has {len(wf.nodes)} nodes"
        )
