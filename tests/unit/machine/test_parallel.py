"""Parallel branches: join all, join any (which stops the rest), and failing branches."""

from __future__ import annotations

from datetime import timedelta

from runtime.machine import apply, start
from runtime.types import (
    AddWait,
    CallFinished,
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
    flow,
    ids,
    listen,
    parallel,
    process,
    returned,
    sleep,
    statuses,
    topic,
    workflow,
)

OUT = topic("OUT")
PACKED = topic("PACKED")
LABELS = topic("LABELS")
T0 = 50.0


def test_join_all_starts_every_branch_and_waits_for_all_of_them() -> None:
    wf = workflow(process("P", parallel("both", listen("packed", PACKED), call("label"))))
    n = ids(wf)
    t = start(wf, Doc("k"), now=T0)
    assert t.effects == (AddWait("PACKED", "k"), RunCall(n["label"], 1))

    half = apply(wf, t.instance, returned(n["label"], 1, Doc("k", n=1)), now=T0 + 1)
    assert half.instance.status is Status.EXECUTING
    assert statuses(wf, half.instance)["both"] is Status.EXECUTING

    done = apply(wf, half.instance, arrive(PACKED, "k", "ups"), now=T0 + 2)
    assert done.instance.status is Status.COMPLETED
    assert done.instance.state == Doc("k", n=1, seen=("ups",))


def test_join_any_completes_with_the_first_branch_and_cancels_the_others_waits_and_timers() -> None:
    wf = workflow(
        process(
            "P",
            parallel(
                "race",
                flow("by-message", process("Q", listen("packed", PACKED, timeout=600))),
                flow(
                    "by-time",
                    process("R", sleep("nap", timedelta(seconds=60)), listen("label", LABELS)),
                ),
                join="any",
            ),
        ),
        process("NEXT", command("go", OUT, lambda d: Msg(d.key))),
    )
    n = ids(wf)
    t = start(wf, Doc("k"), now=T0)
    assert t.effects == (
        AddWait("PACKED", "k"),
        SetTimer(f"timeout:{n['packed']}", T0 + 600),
        SetTimer(f"sleep:{n['nap']}", T0 + 60),
    )
    done = apply(wf, t.instance, fire(f"sleep:{n['nap']}"), now=T0 + 60)
    assert done.effects == (AddWait("LABELS", "k"),)
    done = apply(wf, done.instance, arrive(LABELS, "k", "l1"), now=T0 + 61)
    assert done.effects[:3] == (
        RemoveWait("LABELS", "k"),
        RemoveWait("PACKED", "k"),
        CancelTimer(f"timeout:{n['packed']}"),
    )
    assert isinstance(done.effects[3], Send)
    seen = statuses(wf, done.instance)
    assert (seen["race"], seen["by-time"], seen["by-message"], seen["packed"]) == (
        Status.COMPLETED,
        Status.COMPLETED,
        Status.STOPPED,
        Status.STOPPED,
    )
    assert done.instance.waits == () and done.instance.timers == ()
    assert done.instance.status is Status.COMPLETED


def test_join_any_stopped_branches_ignore_their_late_events() -> None:
    wf = workflow(
        process("P", parallel("race", call("slow"), listen("packed", PACKED), join="any"))
    )
    n = ids(wf)
    t = start(wf, Doc("k"), now=T0)
    won = apply(wf, t.instance, arrive(PACKED, "k"), now=T0 + 1)
    assert won.effects == (RemoveWait("PACKED", "k"), Finished(Status.COMPLETED))
    assert statuses(wf, won.instance)["slow"] is Status.STOPPED
    late = apply(wf, won.instance, returned(n["slow"], 1, Doc("k", n=9)), now=T0 + 2)
    assert late.instance is won.instance and late.effects == ()


def test_join_any_never_starts_branches_after_one_that_completes_at_once() -> None:
    wf = workflow(
        process(
            "P",
            parallel(
                "race", command("c", OUT, lambda d: Msg(d.key)), listen("l", PACKED), join="any"
            ),
        )
    )
    t = start(wf, Doc("k"), now=T0)
    assert [type(e) for e in t.effects] == [Send, Finished]
    assert statuses(wf, t.instance)["l"] is Status.SKIPPED


def test_a_failed_branch_fails_the_workflow_and_stops_the_rest() -> None:
    wf = workflow(
        process("P", parallel("both", listen("packed", PACKED, timeout=30), call("label")))
    )
    n = ids(wf)
    t = start(wf, Doc("k"), now=T0)
    failed = apply(wf, t.instance, fire(f"timeout:{n['packed']}"), now=T0 + 30)
    assert failed.instance.status is Status.FAILED
    assert failed.instance.error == "listener packed timed out after 30 s"
    assert failed.effects == (RemoveWait("PACKED", "k"), Finished(Status.FAILED))
    seen = statuses(wf, failed.instance)
    assert (seen["packed"], seen["label"], seen["both"], seen["P"]) == (
        Status.FAILED,
        Status.STOPPED,
        Status.STOPPED,
        Status.STOPPED,
    )


def test_nested_parallels_join_inside_out() -> None:
    wf = workflow(
        process(
            "P",
            parallel(
                "outer",
                parallel("inner", listen("a", PACKED), listen("b", LABELS), join="any"),
                call("work"),
            ),
        )
    )
    n = ids(wf)
    t = start(wf, Doc("k"), now=T0)
    t = apply(wf, t.instance, arrive(LABELS, "k"), now=T0 + 1)
    assert t.effects == (RemoveWait("LABELS", "k"), RemoveWait("PACKED", "k"))
    assert statuses(wf, t.instance)["inner"] is Status.COMPLETED
    assert statuses(wf, t.instance)["outer"] is Status.EXECUTING
    t = apply(wf, t.instance, returned(n["work"], 1, Doc("k")), now=T0 + 2)
    assert t.instance.status is Status.COMPLETED


def test_an_empty_parallel_completes_at_once() -> None:
    wf = workflow(process("P", parallel("none")))
    assert start(wf, Doc("k"), now=T0).instance.status is Status.COMPLETED


def test_parallel_calls_keep_each_others_updates_when_results_carry_their_base() -> None:
    wf = workflow(process("P", parallel("both", call("count"), call("tag"))))
    n = ids(wf)
    base = Doc("k")
    t = start(wf, base, now=T0)
    assert t.effects == (RunCall(n["count"], 1), RunCall(n["tag"], 1))

    # both calls ran on the same starting state; each changed a different field
    counted = CallFinished("c", n["count"], 1, state=Doc("k", n=1), base=base)
    tagged = CallFinished("t", n["tag"], 1, state=Doc("k", seen=("tag",)), base=base)
    one = apply(wf, t.instance, counted, now=T0 + 1)
    both = apply(wf, one.instance, tagged, now=T0 + 2)

    assert both.instance.status is Status.COMPLETED
    assert both.instance.state == Doc("k", n=1, seen=("tag",))


def test_a_call_result_without_a_base_replaces_the_state() -> None:
    wf = workflow(process("P", parallel("both", call("count"), call("tag"))))
    n = ids(wf)
    t = start(wf, Doc("k"), now=T0)
    one = apply(wf, t.instance, returned(n["count"], 1, Doc("k", n=1)), now=T0 + 1)
    both = apply(wf, one.instance, returned(n["tag"], 1, Doc("k", seen=("tag",))), now=T0 + 2)
    assert both.instance.state == Doc("k", seen=("tag",))
