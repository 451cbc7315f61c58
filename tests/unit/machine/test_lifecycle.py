"""Cancelling, idempotence, purity, and user code that raises."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from attrs import evolve

from runtime.machine import APPLIED_LIMIT, apply, start
from runtime.types import (
    AddWait,
    CancelTimer,
    CompiledWorkflow,
    Event,
    Finished,
    Instance,
    RemoveWait,
    RunCall,
    SetTimer,
    Start,
    Status,
    Transition,
)

from .builders import (
    Doc,
    Msg,
    arrive,
    call,
    cancel,
    command,
    fire,
    flow,
    ids,
    listen,
    parallel,
    poll,
    process,
    raised,
    returned,
    sleep,
    statuses,
    topic,
    workflow,
)

OUT = topic("OUT")
PACKED = topic("PACKED")
LABELS = topic("LABELS")
T0 = 3.0


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _nested() -> CompiledWorkflow[Doc]:
    return workflow(
        process(
            "P",
            parallel(
                "outer",
                parallel(
                    "inner",
                    listen("packed", PACKED, timeout=600),
                    flow(
                        "wait",
                        process("W", sleep("nap", timedelta(minutes=5)), listen("label", LABELS)),
                    ),
                    join="any",
                ),
                call("work"),
            ),
        ),
        process("LATER", command("never", OUT, lambda d: Msg(d.key))),
    )


def test_cancel_stops_every_running_node_including_nested_parallel_branches() -> None:
    wf = _nested()
    n = ids(wf)
    t = start(wf, Doc("k"), now=T0)
    assert t.effects == (
        AddWait("PACKED", "k"),
        SetTimer(f"timeout:{n['packed']}", T0 + 600),
        SetTimer(f"sleep:{n['nap']}", T0 + 300),
        RunCall(n["work"], 1),
    )
    stopped = apply(wf, t.instance, cancel("customer asked"), now=T0 + 10)
    assert stopped.effects == (
        RemoveWait("PACKED", "k"),
        CancelTimer(f"timeout:{n['packed']}"),
        CancelTimer(f"sleep:{n['nap']}"),
        Finished(Status.STOPPED),
    )
    assert stopped.instance.status is Status.STOPPED
    assert stopped.instance.error == "customer asked"
    seen = statuses(wf, stopped.instance)
    for name in ("W", "P", "outer", "inner", "packed", "wait", "W", "nap", "work"):
        assert seen[name] is Status.STOPPED, name
    assert (seen["label"], seen["LATER"], seen["never"]) == (Status.NOT_STARTED,) * 3
    assert stopped.instance.waits == () and stopped.instance.timers == ()


def test_cancelling_a_finished_instance_does_nothing() -> None:
    wf = workflow(process("P"))
    done = start(wf, Doc("k"), now=T0).instance
    again = apply(wf, done, cancel(), now=T0 + 1)
    assert again.instance is done and again.effects == ()


def test_a_finished_instance_ignores_every_event() -> None:
    wf = _nested()
    stopped = apply(wf, start(wf, Doc("k"), now=T0).instance, cancel(), now=T0 + 1).instance
    n = ids(wf)
    for event in (arrive(PACKED, "k"), fire(f"sleep:{n['nap']}"), returned(n["work"], 1, Doc("k"))):
        assert apply(wf, stopped, event, now=T0 + 2).instance is stopped


def _run_through(wf: CompiledWorkflow[Doc], events: list[Event]) -> list[Transition[Doc]]:
    steps = [start(wf, Doc("k"), now=T0)]
    for i, event in enumerate(events, start=1):
        steps.append(apply(wf, steps[-1].instance, event, now=T0 + i))
    return steps


def _events(wf: CompiledWorkflow[Doc]) -> list[Event]:
    n = ids(wf)
    return [
        raised(n["work"], 1, "flaky", eid="call-1"),
        fire(f"sleep:{n['nap']}", eid="nap"),
        fire(f"retry:{n['work']}:2", eid="retry"),
        arrive(LABELS, "k", "label", eid="label"),
        returned(n["work"], 2, Doc("k", n=4), eid="call-2"),
    ]


def test_the_same_event_applied_twice_changes_nothing_the_second_time() -> None:
    wf = _nested()
    steps = _run_through(wf, _events(wf))
    assert steps[-1].instance.status is Status.COMPLETED
    for before, after, event in zip(steps[:-1], steps[1:], _events(wf), strict=True):
        assert event.event_id in after.instance.applied
        replay = apply(wf, after.instance, event, now=T0 + 100)
        assert replay.instance is after.instance, event
        assert replay.effects == ()
        assert before.instance != after.instance


def test_events_that_do_not_concern_the_instance_are_not_recorded() -> None:
    wf = _nested()
    t = start(wf, Doc("k"), now=T0)
    for event in (arrive(OUT, "k"), fire("no-such-timer"), Start("s1")):
        same = apply(wf, t.instance, event, now=T0 + 1)
        assert same.instance is t.instance
        assert event.event_id not in same.instance.applied


def test_same_inputs_give_the_same_outputs() -> None:
    wf = _nested()
    first = _run_through(wf, _events(wf))
    second = _run_through(wf, _events(wf))
    assert first == second
    other = _nested()  # another table with the same shape behaves the same
    assert [s.effects for s in _run_through(other, _events(other))] == [s.effects for s in first]


def test_a_user_callable_that_raises_fails_its_node_and_the_workflow() -> None:
    wf = workflow(
        process(
            "P", listen("paid", PACKED), command("charge", OUT, lambda d: Msg(d.key, str(1 // d.n)))
        ),
    )
    t = start(wf, Doc("k"), now=T0)
    t = apply(wf, t.instance, arrive(PACKED, "k"), now=T0 + 1)
    assert t.instance.status is Status.FAILED
    assert t.instance.error == "node charge: ZeroDivisionError: integer division or modulo by zero"
    assert t.instance.nodes[ids(wf)["charge"]].status is Status.FAILED
    assert t.effects == (RemoveWait("PACKED", "k"), Finished(Status.FAILED))


def test_an_instance_of_another_workflow_version_is_refused() -> None:
    wf = workflow(process("P", listen("paid", PACKED)))
    t = start(wf, Doc("k"), now=T0)
    newer = evolve(wf, version="v2")
    with pytest.raises(ValueError, match="belongs to W version v1, not W version v2"):
        apply(newer, t.instance, arrive(PACKED, "k"), now=T0)


def test_instances_are_plain_values_the_machine_never_mutates() -> None:
    wf = _nested()
    t = start(wf, Doc("k"), now=T0)
    snapshot: Instance[Doc] = evolve(t.instance)
    apply(wf, t.instance, cancel(), now=T0 + 1)
    assert t.instance == snapshot


def test_a_long_poll_keeps_only_the_latest_event_ids() -> None:
    wf = workflow(process("P", poll("ready", lambda d: False, 1.0, lambda d: at(T0 + 10_000))))
    n = ids(wf)["ready"]
    instance = start(wf, Doc("k"), now=T0).instance
    for round_ in range(1, APPLIED_LIMIT + 45):
        instance = apply(
            wf, instance, fire(f"poll:{n}:{round_}", eid=f"t{round_}"), now=T0 + round_
        ).instance
    assert len(instance.applied) == APPLIED_LIMIT
    assert instance.applied[-1] == f"t{APPLIED_LIMIT + 44}"
    replayed = apply(wf, instance, fire(f"poll:{n}:1", eid="t1"), now=T0 + 9_000)
    assert replayed.instance is instance  # forgotten, yet its timer no longer concerns the instance
