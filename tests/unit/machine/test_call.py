"""Calls: attempts, backoff with deterministic jitter, exhaustion, stale results."""

from __future__ import annotations

from attrs import evolve

from runtime.machine import apply, start
from runtime.types import Finished, RetryPolicy, RunCall, SetTimer, Status, Transition

from .builders import (
    Doc,
    call,
    fire,
    ids,
    process,
    raised,
    returned,
    statuses,
    workflow,
)

T0 = 10_000.0
STEADY = RetryPolicy(attempts=3, initial=1.0, multiplier=2.0, maximum=30.0, jitter=0.0)


def _failing_twice() -> tuple[int, list[Transition[Doc]]]:
    wf = workflow(process("P", call("work", retry=STEADY)))
    n = ids(wf)["work"]
    steps = [start(wf, Doc("k"), now=T0)]
    steps.append(apply(wf, steps[-1].instance, raised(n, 1, "boom 1"), now=T0 + 1))
    steps.append(apply(wf, steps[-1].instance, fire(f"retry:{n}:2"), now=T0 + 2))
    steps.append(apply(wf, steps[-1].instance, raised(n, 2, "boom 2"), now=T0 + 3))
    steps.append(apply(wf, steps[-1].instance, fire(f"retry:{n}:3"), now=T0 + 5))
    return n, steps


def test_a_failed_attempt_is_retried_after_an_exponential_backoff() -> None:
    n, steps = _failing_twice()
    assert [s.effects for s in steps] == [
        (RunCall(n, 1),),
        (SetTimer(f"retry:{n}:2", T0 + 1 + 1.0),),
        (RunCall(n, 2),),
        (SetTimer(f"retry:{n}:3", T0 + 3 + 2.0),),
        (RunCall(n, 3),),
    ]
    run = steps[-1].instance.nodes[n]
    assert (run.status, run.attempt, run.detail) == (
        Status.EXECUTING,
        3,
        "attempt 2 failed: boom 2",
    )


def test_a_call_that_succeeds_on_a_retry_completes_with_its_state() -> None:
    wf = workflow(process("P", call("work", retry=STEADY)))
    n, steps = _failing_twice()
    done = apply(wf, steps[-1].instance, returned(n, 3, Doc("k", n=3)), now=T0 + 6)
    assert done.instance.status is Status.COMPLETED
    assert done.instance.state.n == 3
    assert done.instance.nodes[n].detail is None


def test_exhausted_attempts_fail_the_workflow_with_the_error() -> None:
    wf = workflow(process("P", call("work", retry=STEADY)))
    n, steps = _failing_twice()
    done = apply(wf, steps[-1].instance, raised(n, 3, "boom 3"), now=T0 + 6)
    assert done.instance.status is Status.FAILED
    assert done.instance.error == "call work failed after 3 attempts: boom 3"
    assert done.instance.nodes[n].status is Status.FAILED
    assert done.effects == (Finished(Status.FAILED),)


def test_exhausted_attempts_with_on_error_fold_the_error_into_state_and_go_on() -> None:
    def give_up(d: Doc, error: str) -> Doc:
        return evolve(d, seen=(*d.seen, error))

    wf = workflow(process("P", call("work", retry=RetryPolicy(attempts=1), on_error=give_up)))
    n = ids(wf)["work"]
    t = start(wf, Doc("k"), now=T0)
    done = apply(wf, t.instance, raised(n, 1, "no stock"), now=T0 + 1)
    assert done.instance.status is Status.COMPLETED
    assert done.instance.state.seen == ("no stock",)
    assert statuses(wf, done.instance)["work"] is Status.COMPLETED


def test_an_on_error_that_raises_fails_the_call() -> None:
    def worse(d: Doc, error: str) -> Doc:
        raise RuntimeError("handler broke")

    wf = workflow(process("P", call("work", retry=RetryPolicy(attempts=1), on_error=worse)))
    t = start(wf, Doc("k"), now=T0)
    done = apply(wf, t.instance, raised(ids(wf)["work"], 1, "x"), now=T0)
    assert done.instance.error == "node work: RuntimeError: handler broke"


def test_results_for_other_attempts_or_nodes_are_ignored() -> None:
    wf = workflow(process("P", call("work", retry=STEADY)))
    n, steps = _failing_twice()
    waiting_for_retry = steps[3].instance
    running_third = steps[4].instance
    for instance, event in (
        (waiting_for_retry, returned(n, 2, Doc("k"))),  # the failed attempt reports again
        (waiting_for_retry, returned(n, 3, Doc("k"))),  # not started yet
        (running_third, returned(n, 1, Doc("k"))),  # stale
        (running_third, returned(n - 1, 3, Doc("k"))),  # not a call node
        (running_third, returned(99, 3, Doc("k"))),  # no such node
    ):
        same = apply(wf, instance, event, now=T0 + 9)
        assert same.instance is instance
        assert same.effects == ()


def test_backoff_is_capped_at_the_maximum() -> None:
    policy = RetryPolicy(attempts=5, initial=10.0, multiplier=10.0, maximum=15.0, jitter=0.0)
    wf = workflow(process("P", call("work", retry=policy)))
    n = ids(wf)["work"]
    t = start(wf, Doc("k"), now=T0)
    t = apply(wf, t.instance, raised(n, 1, "e"), now=T0)
    assert t.effects == (SetTimer(f"retry:{n}:2", T0 + 10.0),)
    t = apply(wf, t.instance, fire(f"retry:{n}:2"), now=T0 + 10)
    t = apply(wf, t.instance, raised(n, 2, "e"), now=T0 + 10)
    assert t.effects == (SetTimer(f"retry:{n}:3", T0 + 10 + 15.0),)


def test_jitter_is_deterministic_and_stays_within_its_fraction() -> None:
    policy = RetryPolicy(attempts=2, initial=4.0, multiplier=2.0, maximum=30.0, jitter=0.25)
    wf = workflow(process("P", call("work", retry=policy)))
    n = ids(wf)["work"]

    def retry_delay(key: str) -> float:
        t = start(wf, Doc(key), now=T0)
        t = apply(wf, t.instance, raised(n, 1, "e"), now=T0)
        (effect,) = t.effects
        assert isinstance(effect, SetTimer)
        return effect.due - T0

    delays = [retry_delay(f"order-{i}") for i in range(40)]
    assert all(3.0 <= d <= 5.0 for d in delays)
    assert len(set(delays)) > 30  # spread, not one value
    assert delays == [retry_delay(f"order-{i}") for i in range(40)]
