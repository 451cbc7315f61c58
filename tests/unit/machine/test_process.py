"""Process timeouts: stop what runs, skip what has not started, move on."""

from __future__ import annotations

from datetime import timedelta

from runtime.machine import apply, start
from runtime.types import (
    AddWait,
    CancelTimer,
    Finished,
    RemoveWait,
    RunCall,
    Send,
    SetTimer,
    Status,
)

from .builders import (
    Doc,
    Msg,
    arrive,
    call,
    command,
    fire,
    ids,
    listen,
    parallel,
    process,
    raised,
    sleep,
    statuses,
    topic,
    workflow,
)

OUT = topic("OUT")
PAY = topic("PAY")
T0 = 7.0


def test_a_process_timeout_stops_running_tasks_skips_the_rest_and_moves_on() -> None:
    wf = workflow(
        process(
            "PAYMENT",
            command("charge", OUT, lambda d: Msg(d.key, "charge")),
            listen("paid", PAY),
            command("thank", OUT, lambda d: Msg(d.key, "thanks")),
            timeout=3600,
        ),
        process("NEXT", command("ship", OUT, lambda d: Msg(d.key, "ship"))),
    )
    n = ids(wf)
    t = start(wf, Doc("k"), now=T0)
    assert t.effects[0] == SetTimer(f"timeout:{n['PAYMENT']}", T0 + 3600)
    assert t.effects[2] == AddWait("PAY", "k")

    out = apply(wf, t.instance, fire(f"timeout:{n['PAYMENT']}"), now=T0 + 3600)
    assert out.effects == (
        RemoveWait("PAY", "k"),
        Send("OUT", "k", OUT.encode(Msg("k", "ship")), f"W:k/{n['ship']}/1"),
        Finished(Status.COMPLETED),
    )
    seen = statuses(wf, out.instance)
    assert (seen["charge"], seen["paid"], seen["thank"]) == (
        Status.COMPLETED,
        Status.STOPPED,
        Status.SKIPPED,
    )
    payment = out.instance.nodes[n["PAYMENT"]]
    assert (payment.status, payment.detail) == (Status.COMPLETED, "timed out")
    assert out.instance.status is Status.COMPLETED
    late = apply(wf, out.instance, arrive(PAY, "k"), now=T0 + 3601)
    assert late.instance is out.instance


def test_a_process_that_finishes_in_time_cancels_its_timeout() -> None:
    wf = workflow(process("PAYMENT", listen("paid", PAY), timeout=60))
    n = ids(wf)
    t = start(wf, Doc("k"), now=T0)
    t = apply(wf, t.instance, arrive(PAY, "k"), now=T0 + 1)
    assert t.effects == (
        RemoveWait("PAY", "k"),
        CancelTimer(f"timeout:{n['PAYMENT']}"),
        Finished(Status.COMPLETED),
    )
    stale = apply(wf, t.instance, fire(f"timeout:{n['PAYMENT']}"), now=T0 + 60)
    assert stale.instance is t.instance and stale.effects == ()


def test_a_process_timeout_cancels_timers_deep_inside_it() -> None:
    wf = workflow(
        process(
            "SLOW",
            parallel("both", call("work"), sleep("nap", timedelta(hours=2))),
            timeout=60,
        ),
    )
    n = ids(wf)
    t = start(wf, Doc("k"), now=T0)
    assert t.effects[1:] == (RunCall(n["work"], 1), SetTimer(f"sleep:{n['nap']}", T0 + 7200))
    t = apply(wf, t.instance, raised(n["work"], 1, "flaky"), now=T0 + 1)
    retry = t.instance.timers[-1].timer_id
    t = apply(wf, t.instance, fire(f"timeout:{n['SLOW']}"), now=T0 + 60)
    assert t.effects == (
        CancelTimer(f"sleep:{n['nap']}"),
        CancelTimer(retry),
        Finished(Status.COMPLETED),
    )
    seen = statuses(wf, t.instance)
    assert (seen["both"], seen["work"], seen["nap"]) == (Status.STOPPED,) * 3
