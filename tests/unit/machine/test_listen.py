"""Listeners: correlation by key, several listeners per message, re-keying, timeouts."""

from __future__ import annotations

from attrs import evolve

from runtime.machine import apply, start
from runtime.types import AddWait, CancelTimer, Finished, RemoveWait, SetTimer, Status, WaitRef

from .builders import (
    Doc,
    Msg,
    arrive,
    fire,
    ids,
    listen,
    parallel,
    process,
    statuses,
    topic,
    workflow,
)

PACKED = topic("PACKED")
OTHER = topic("OTHER")
T0 = 100.0


def test_one_message_completes_every_listener_of_the_instance_waiting_on_its_key() -> None:
    wf = workflow(
        process(
            "P",
            parallel(
                "both",
                listen("first", PACKED),
                listen("second", PACKED, on=lambda d, m: evolve(d, n=d.n + 1)),
                listen("elsewhere", OTHER),
            ),
        )
    )
    t = start(wf, Doc("k"), now=T0)
    assert t.effects == (AddWait("PACKED", "k"), AddWait("PACKED", "k"), AddWait("OTHER", "k"))
    t = apply(wf, t.instance, arrive(PACKED, "k", "box"), now=T0 + 1)
    assert t.effects == (RemoveWait("PACKED", "k"),)
    assert t.instance.state == Doc("k", n=1, seen=("box",))
    seen = statuses(wf, t.instance)
    assert (seen["first"], seen["second"], seen["elsewhere"]) == (
        Status.COMPLETED,
        Status.COMPLETED,
        Status.EXECUTING,
    )
    assert t.instance.waits == (WaitRef("OTHER", "k", ids(wf)["elsewhere"]),)


def test_a_wait_is_removed_only_when_no_other_listener_of_the_instance_needs_it() -> None:
    wf = workflow(
        process(
            "P",
            parallel(
                "both",
                listen("patient", PACKED),
                listen("hasty", PACKED, timeout=5, on_timeout=lambda d: evolve(d, flag=True)),
            ),
        )
    )
    t = start(wf, Doc("k"), now=T0)
    t = apply(wf, t.instance, fire(f"timeout:{ids(wf)['hasty']}"), now=T0 + 5)
    assert t.effects == ()
    assert t.instance.waits == (WaitRef("PACKED", "k", ids(wf)["patient"]),)
    t = apply(wf, t.instance, arrive(PACKED, "k", "box"), now=T0 + 6)
    assert t.effects == (RemoveWait("PACKED", "k"), Finished(Status.COMPLETED))
    assert t.instance.state == Doc("k", flag=True, seen=("box",))


def test_the_key_is_computed_when_the_listener_starts_from_the_state_at_that_time() -> None:
    rebox = lambda d, m: evolve(d, box=m.text)  # noqa: E731 - a one-line on()
    wf = workflow(
        process("P", listen("first", PACKED, lambda d: d.box, on=rebox)),
        process("Q", listen("second", PACKED, lambda d: d.box)),
    )
    t = start(wf, Doc("k", box="b1"), now=T0)
    assert t.effects == (AddWait("PACKED", "b1"),)
    t = apply(wf, t.instance, arrive(PACKED, "b1", "b2"), now=T0 + 1)
    assert t.effects == (RemoveWait("PACKED", "b1"), AddWait("PACKED", "b2"))
    stale = apply(wf, t.instance, arrive(PACKED, "b1", "again"), now=T0 + 2)
    assert stale.instance is t.instance
    done = apply(wf, t.instance, arrive(PACKED, "b2", "final"), now=T0 + 3)
    assert done.instance.status is Status.COMPLETED
    assert done.instance.state.seen == ("final",)


def test_a_message_does_not_complete_a_listener_that_starts_after_it_arrived() -> None:
    wf = workflow(process("P", listen("one", PACKED), listen("two", PACKED)))
    t = start(wf, Doc("k"), now=T0)
    t = apply(wf, t.instance, arrive(PACKED, "k", "m1"), now=T0 + 1)
    assert t.effects == (RemoveWait("PACKED", "k"), AddWait("PACKED", "k"))
    assert statuses(wf, t.instance)["two"] is Status.EXECUTING
    assert t.instance.state.seen == ("m1",)


def test_a_listener_timeout_with_on_timeout_completes_it_and_moves_on() -> None:
    wf = workflow(
        process(
            "P", listen("reply", PACKED, timeout=30, on_timeout=lambda d: evolve(d, flag=True))
        ),
        process("Q", listen("later", OTHER)),
    )
    n = ids(wf)["reply"]
    t = start(wf, Doc("k"), now=T0)
    assert t.effects == (AddWait("PACKED", "k"), SetTimer(f"timeout:{n}", T0 + 30))
    t = apply(wf, t.instance, fire(f"timeout:{n}"), now=T0 + 30)
    assert t.effects == (RemoveWait("PACKED", "k"), AddWait("OTHER", "k"))
    assert t.instance.state.flag is True
    run = t.instance.nodes[n]
    assert (run.status, run.detail, run.ended_at) == (Status.COMPLETED, "timed out", T0 + 30)


def test_a_listener_timeout_without_on_timeout_fails_the_workflow() -> None:
    wf = workflow(process("P", listen("reply", PACKED, timeout=2.5)))
    n = ids(wf)["reply"]
    t = start(wf, Doc("k"), now=T0)
    t = apply(wf, t.instance, fire(f"timeout:{n}"), now=T0 + 2.5)
    assert t.instance.status is Status.FAILED
    assert t.instance.error == "listener reply timed out after 2.5 s"
    assert t.instance.nodes[n].status is Status.FAILED
    assert t.effects == (RemoveWait("PACKED", "k"), Finished(Status.FAILED))


def test_a_message_before_the_timeout_cancels_the_timeout_timer() -> None:
    wf = workflow(process("P", listen("reply", PACKED, timeout=30)))
    n = ids(wf)["reply"]
    t = start(wf, Doc("k"), now=T0)
    t = apply(wf, t.instance, arrive(PACKED, "k"), now=T0 + 1)
    assert t.effects == (
        RemoveWait("PACKED", "k"),
        CancelTimer(f"timeout:{n}"),
        Finished(Status.COMPLETED),
    )
    late = apply(wf, t.instance, fire(f"timeout:{n}"), now=T0 + 30)
    assert late.instance is t.instance and late.effects == ()


def test_a_match_that_does_not_give_a_str_fails_the_listener() -> None:
    wf = workflow(process("P", listen("reply", PACKED, lambda d: d.n)))  # type: ignore[arg-type, return-value]
    t = start(wf, Doc("k", n=7), now=T0)
    assert t.instance.status is Status.FAILED
    assert t.instance.error == "node reply: match returned int 7, not a str"


def test_an_on_that_raises_fails_the_listener_and_the_workflow() -> None:
    def boom(d: Doc, m: Msg) -> Doc:
        raise ValueError(f"bad message {m.text!r}")

    wf = workflow(process("P", listen("reply", PACKED, on=boom), listen("never", OTHER)))
    t = start(wf, Doc("k"), now=T0)
    t = apply(wf, t.instance, arrive(PACKED, "k", "x"), now=T0 + 1)
    assert t.instance.status is Status.FAILED
    assert t.instance.error == "node reply: ValueError: bad message 'x'"
    assert statuses(wf, t.instance)["never"] is Status.NOT_STARTED
    assert t.effects == (RemoveWait("PACKED", "k"), Finished(Status.FAILED))


# --------------------------------------------------------------------------- by key


def test_a_by_key_listener_waits_on_the_run_key_with_a_direct_wait_and_no_removal() -> None:
    wf = workflow(process("P", listen("one", PACKED, by_key=True), listen("two", PACKED)))
    t = start(wf, Doc("k"), now=T0)
    assert t.effects == (AddWait("PACKED", "k", direct=True),)
    assert t.instance.waits == (WaitRef("PACKED", "k", ids(wf)["one"]),)
    t = apply(wf, t.instance, arrive(PACKED, "k", "m1"), now=T0 + 1)
    # the direct wait needs no RemoveWait; the indexed one that follows is an AddWait as ever
    assert t.effects == (AddWait("PACKED", "k"),)
    t = apply(wf, t.instance, arrive(PACKED, "k", "m2"), now=T0 + 2)
    assert t.effects == (RemoveWait("PACKED", "k"), Finished(Status.COMPLETED))
    assert t.instance.state.seen == ("m1", "m2")


def test_a_by_key_listener_keeps_the_run_key_when_the_state_key_changes() -> None:
    """The run is found by its id: a state whose key field changed since the start does not
    move the listener to another key (match is not called)."""
    rekey = lambda d, m: evolve(d, key="other")  # noqa: E731 - a one-line on()
    wf = workflow(
        process("P", listen("first", OTHER, on=rekey), listen("second", PACKED, by_key=True))
    )
    t = start(wf, Doc("k"), now=T0)
    t = apply(wf, t.instance, arrive(OTHER, "k", "x"), now=T0 + 1)
    assert t.instance.state.key == "other"
    assert t.effects == (RemoveWait("OTHER", "k"), AddWait("PACKED", "k", direct=True))
    done = apply(wf, t.instance, arrive(PACKED, "k", "y"), now=T0 + 2)
    assert done.instance.status is Status.COMPLETED


def test_an_indexed_wait_on_the_same_key_as_a_direct_one_is_removed_when_it_ends() -> None:
    """Both listeners wait on (PACKED, k), one directly and one through the index; the indexed
    one times out while the direct one still waits: its index entry goes all the same."""
    wf = workflow(
        process(
            "P",
            parallel(
                "both",
                listen("direct", PACKED, by_key=True),
                listen("indexed", PACKED, timeout=5, on_timeout=lambda d: evolve(d, flag=True)),
            ),
        )
    )
    t = start(wf, Doc("k"), now=T0)
    assert t.effects[:2] == (AddWait("PACKED", "k", direct=True), AddWait("PACKED", "k"))
    t = apply(wf, t.instance, fire(f"timeout:{ids(wf)['indexed']}"), now=T0 + 5)
    assert t.effects == (RemoveWait("PACKED", "k"),)
    assert t.instance.waits == (WaitRef("PACKED", "k", ids(wf)["direct"]),)
    t = apply(wf, t.instance, arrive(PACKED, "k", "p"), now=T0 + 6)
    assert t.effects == (Finished(Status.COMPLETED),)
