"""Each node kind on its own: what it emits when it starts and how it finishes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from attrs import evolve

from runtime.machine import apply, start
from runtime.types import (
    AddWait,
    Finished,
    RemoveWait,
    RunCall,
    Send,
    SetTimer,
    Status,
    TimerRef,
    WaitRef,
)

from .builders import (
    Doc,
    Msg,
    arrive,
    call,
    command,
    fail,
    fire,
    ids,
    listen,
    poll,
    process,
    returned,
    sleep,
    statuses,
    topic,
    until,
    workflow,
)

ORDERS = topic("ORDERS")
REPLIES = topic("REPLIES")
T0 = 1_700_000_000.0


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def test_start_names_the_instance_after_the_workflow_and_key_unless_told() -> None:
    wf = workflow(process("P"), name="Orders")
    assert start(wf, Doc("A1"), now=T0).instance.id == "Orders:A1"
    assert start(wf, Doc("A1"), now=T0, instance_id="custom").instance.id == "custom"


def test_a_key_function_that_raises_is_reported_with_the_workflow_name() -> None:
    wf = workflow(process("P"), name="Orders")
    wf = evolve(wf, key=lambda d: str(1 // d.n))
    with pytest.raises(
        ValueError, match="workflow Orders: key\\(state\\) raised ZeroDivisionError"
    ):
        start(wf, Doc("A1"), now=T0)


def test_empty_processes_complete_at_once_and_so_does_the_workflow() -> None:
    wf = workflow(process("P1"), process("P2"))
    t = start(wf, Doc("k"), now=T0)
    assert t.instance.status is Status.COMPLETED
    assert t.effects == (Finished(Status.COMPLETED),)
    assert set(statuses(wf, t.instance).values()) == {Status.COMPLETED}
    assert t.instance.created_at == t.instance.updated_at == T0


def test_command_sends_the_built_message_with_a_stable_id() -> None:
    wf = workflow(process("P", command("charge", ORDERS, lambda d: Msg(d.key, "go"))))
    t = start(wf, Doc("k1"), now=T0)
    value = ORDERS.encode(Msg("k1", "go"))
    assert t.effects == (
        Send("ORDERS", "k1", value, f"W:k1/{ids(wf)['charge']}/1"),
        Finished(Status.COMPLETED),
    )
    run = t.instance.nodes[ids(wf)["charge"]]
    assert (run.status, run.started_at, run.ended_at, run.attempt) == (Status.COMPLETED, T0, T0, 1)
    assert start(wf, Doc("k1"), now=T0 + 5).effects[0] == t.effects[0]


def test_a_command_message_longer_than_the_broker_takes_fails_its_node() -> None:
    wf = workflow(
        process("P", command("charge", ORDERS, lambda d: Msg(d.key, d.key * 10))),
        process("Q", command("after", ORDERS, lambda d: Msg(d.key, "go"))),
    )
    size = len(ORDERS.encode(Msg("k1", "k1" * 10)))
    fits = start(wf, Doc("k1"), now=T0, max_message_bytes=size)
    assert fits.instance.status is Status.COMPLETED
    t = start(wf, Doc("k1"), now=T0, max_message_bytes=size - 1)
    assert t.instance.status is Status.FAILED
    assert statuses(wf, t.instance)["charge"] is Status.FAILED
    assert statuses(wf, t.instance)["after"] is Status.NOT_STARTED
    assert t.instance.error == (
        f"node charge: its ORDERS message is {size:,} bytes encoded; "
        f"the broker takes at most {size - 1:,}"
    )
    assert t.effects == (Finished(Status.FAILED),)  # nothing sent


def test_listen_waits_on_its_key_and_folds_the_message_into_state() -> None:
    wf = workflow(process("P", listen("reply", REPLIES)))
    t = start(wf, Doc("k1"), now=T0)
    assert t.effects == (AddWait("REPLIES", "k1"),)
    assert t.instance.waits == (WaitRef("REPLIES", "k1", ids(wf)["reply"]),)
    assert t.instance.status is Status.EXECUTING

    done = apply(wf, t.instance, arrive(REPLIES, "k1", "paid"), now=T0 + 1)
    assert done.effects == (RemoveWait("REPLIES", "k1"), Finished(Status.COMPLETED))
    assert done.instance.state.seen == ("paid",)
    assert done.instance.waits == ()
    assert done.instance.status is Status.COMPLETED
    assert done.instance.updated_at == T0 + 1


def test_listen_without_on_keeps_the_state() -> None:
    wf = workflow(process("P", listen("reply", REPLIES, on=None)))
    t = start(wf, Doc("k1"), now=T0)
    done = apply(wf, t.instance, arrive(REPLIES, "k1", "ignored"), now=T0 + 1)
    assert done.instance.status is Status.COMPLETED
    assert done.instance.state == Doc("k1")


def test_messages_that_are_not_awaited_leave_the_instance_untouched() -> None:
    wf = workflow(process("P", listen("reply", REPLIES)))
    t = start(wf, Doc("k1"), now=T0)
    for event in (arrive(REPLIES, "other"), arrive(ORDERS, "k1")):
        same = apply(wf, t.instance, event, now=T0 + 1)
        assert same.instance is t.instance
        assert same.effects == ()


def test_call_runs_attempt_one_and_takes_the_state_it_returns() -> None:
    wf = workflow(
        process("P", call("work")), process("Q", command("after", ORDERS, lambda d: Msg(str(d.n))))
    )
    n = ids(wf)["work"]
    t = start(wf, Doc("k1"), now=T0)
    assert t.effects == (RunCall(n, 1),)
    done = apply(wf, t.instance, returned(n, 1, Doc("k1", n=5)), now=T0 + 2)
    assert done.instance.state.n == 5
    assert done.effects[0] == Send(
        "ORDERS", "5", ORDERS.encode(Msg("5")), f"W:k1/{ids(wf)['after']}/1"
    )
    assert done.instance.status is Status.COMPLETED


def test_a_call_that_returns_something_else_than_the_state_fails_the_workflow() -> None:
    wf = workflow(process("P", call("work")))
    t = start(wf, Doc("k1"), now=T0)
    done = apply(wf, t.instance, returned(ids(wf)["work"], 1, "oops"), now=T0)
    assert done.instance.status is Status.FAILED
    assert done.instance.error == "node work: the call returned a str, not a Doc"


def test_sleep_sets_a_timer_and_completes_when_it_fires() -> None:
    wf = workflow(process("P", sleep("nap", timedelta(seconds=30))))
    n = ids(wf)["nap"]
    t = start(wf, Doc("k"), now=T0)
    assert t.effects == (SetTimer(f"sleep:{n}", T0 + 30),)
    assert t.instance.timers == (TimerRef(f"sleep:{n}", n, T0 + 30),)
    done = apply(wf, t.instance, fire(f"sleep:{n}"), now=T0 + 30.2)
    assert done.instance.status is Status.COMPLETED
    assert done.instance.timers == ()
    assert done.effects == (Finished(Status.COMPLETED),)


def test_a_negative_sleep_fires_at_once_through_a_timer() -> None:
    wf = workflow(process("P", sleep("nap", lambda d: timedelta(seconds=-5))))
    t = start(wf, Doc("k"), now=T0)
    assert t.effects == (SetTimer(f"sleep:{ids(wf)['nap']}", T0),)


def test_until_fires_at_the_given_time_or_at_once_when_it_is_past() -> None:
    wf = workflow(process("P", until("wake", lambda d: at(T0 + d.n))))
    n = ids(wf)["wake"]
    assert start(wf, Doc("k", n=3600), now=T0).effects == (SetTimer(f"until:{n}", T0 + 3600),)
    assert start(wf, Doc("k", n=-3600), now=T0).effects == (SetTimer(f"until:{n}", T0),)


def test_until_with_a_naive_datetime_fails_and_says_why() -> None:
    wf = workflow(process("P", until("wake", lambda d: datetime(2030, 1, 1))))
    t = start(wf, Doc("k"), now=T0)
    assert t.instance.status is Status.FAILED
    assert t.instance.error is not None
    assert t.instance.error.startswith(
        "node wake: at returned a naive datetime 2030-01-01T00:00:00"
    )


def test_poll_completes_at_once_when_the_check_holds() -> None:
    wf = workflow(process("P", poll("ready", lambda d: d.flag, 10.0, lambda d: at(T0 + 60))))
    t = start(wf, Doc("k", flag=True), now=T0)
    assert t.instance.status is Status.COMPLETED
    assert t.effects == (Finished(Status.COMPLETED),)


def test_poll_rechecks_every_period_until_the_check_holds() -> None:
    wf = workflow(process("P", poll("ready", lambda d: d.n > 0, 10.0, lambda d: at(T0 + 60))))
    n = ids(wf)["ready"]
    t = start(wf, Doc("k"), now=T0)
    assert t.effects == (SetTimer(f"poll:{n}:1", T0 + 10),)
    again = apply(wf, t.instance, fire(f"poll:{n}:1"), now=T0 + 10)
    assert again.effects == (SetTimer(f"poll:{n}:2", T0 + 20),)
    assert again.instance.nodes[n].attempt == 2
    ready = evolve(again.instance, state=Doc("k", n=1))
    done = apply(wf, ready, fire(f"poll:{n}:2"), now=T0 + 20)
    assert done.instance.status is Status.COMPLETED


def test_poll_fails_once_it_passes_its_deadline() -> None:
    wf = workflow(process("P", poll("ready", lambda d: False, 25.0, lambda d: at(T0 + 40))))
    n = ids(wf)["ready"]
    t = start(wf, Doc("k"), now=T0)
    t = apply(wf, t.instance, fire(f"poll:{n}:1"), now=T0 + 25)
    assert t.effects == (SetTimer(f"poll:{n}:2", T0 + 40),)  # capped at the deadline
    t = apply(wf, t.instance, fire(f"poll:{n}:2"), now=T0 + 40)
    assert t.instance.status is Status.FAILED
    assert t.instance.error == "poll ready passed its deadline"
    assert t.instance.nodes[n].status is Status.FAILED
    assert t.effects == (Finished(Status.FAILED),)


def test_fail_ends_the_workflow_with_its_reason() -> None:
    wf = workflow(
        process("P", fail("no", lambda d: f"declined {d.key}")),
        process("never", command("c", ORDERS, lambda d: Msg(d.key))),
    )
    t = start(wf, Doc("k9"), now=T0)
    assert t.instance.status is Status.FAILED
    assert t.instance.error == "declined k9"
    assert t.effects == (Finished(Status.FAILED),)
    seen = statuses(wf, t.instance)
    assert (seen["no"], seen["P"], seen["never"], seen["c"]) == (
        Status.FAILED,
        Status.STOPPED,
        Status.NOT_STARTED,
        Status.NOT_STARTED,
    )


def test_processes_run_in_order_and_the_next_starts_when_the_previous_ends() -> None:
    wf = workflow(
        process("first", listen("reply", REPLIES)),
        process("second", command("c", ORDERS, lambda d: Msg(d.key, d.seen[-1]))),
    )
    t = start(wf, Doc("k"), now=T0)
    assert statuses(wf, t.instance)["second"] is Status.NOT_STARTED
    done = apply(wf, t.instance, arrive(REPLIES, "k", "x"), now=T0 + 1)
    sends = [e for e in done.effects if isinstance(e, Send)]
    assert [s.value for s in sends] == [ORDERS.encode(Msg("k", "x"))]
    assert done.instance.status is Status.COMPLETED


def test_a_very_long_chain_runs_without_recursion_limits() -> None:
    steps = [command(f"c{i}", ORDERS, lambda d: Msg(d.key)) for i in range(3000)]
    wf = workflow(process("P", *steps))
    t = start(wf, Doc("k"), now=T0)
    assert t.instance.status is Status.COMPLETED
    assert len(t.effects) == 3001
