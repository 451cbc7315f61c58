"""Reachability: what follows a step that always fails, with process timeouts as the way out."""

from __future__ import annotations

from datetime import timedelta

from dsl import call, decide, fail, parallel, process, workflow

from .models import Order, keep
from .support import codes, only, run


def test_a_process_timeout_keeps_the_next_process_reachable() -> None:
    wf = (
        workflow("W", Order, key=lambda o: o.order_id)
        >> process("A", timeout=timedelta(minutes=1))
        >> fail("no")
        >> process("B")
        >> call(keep)
    )
    assert codes(run(wf)) == []


def test_tasks_after_fail_stay_unreachable_under_a_timeout() -> None:
    wf = (
        workflow("W", Order, key=lambda o: o.order_id)
        >> process("A", timeout=timedelta(minutes=1))
        >> fail("no")
        >> call(keep)
        >> process("B")
        >> call(keep)
    )
    found = only(run(wf), "DGR109")
    assert found.message.startswith("call(keep) can never run: fail(...) on line")


def test_a_decide_with_one_passing_branch_does_not_end_the_sequence() -> None:
    wf = (
        workflow("W", Order, key=lambda o: o.order_id)
        >> process("A")
        >> decide(lambda o: o.paid, then=call(keep), otherwise=fail("no"))
        >> call(keep)
    )
    assert codes(run(wf)) == []


def test_a_parallel_of_failing_branches_always_fails() -> None:
    wf = (
        workflow("W", Order, key=lambda o: o.order_id)
        >> process("A")
        >> parallel(fail("a"), process("F", state=Order) >> fail("b"))
        >> call(keep)
    )
    found = only(run(wf), "DGR109")
    assert "every branch of parallel(...)" in found.message


def test_fail_as_the_last_task_is_fine() -> None:
    wf = workflow("W", Order, key=lambda o: o.order_id) >> process("A") >> call(keep) >> fail("x")
    assert codes(run(wf)) == []


def test_unreachable_tasks_inside_a_branch_are_found() -> None:
    branch = process("R", state=Order) >> fail("refund") >> call(keep)
    wf = (
        workflow("W", Order, key=lambda o: o.order_id)
        >> process("A")
        >> decide(lambda o: o.paid, then=call(keep), otherwise=branch)
        >> call(keep)
    )
    found = only(run(wf), "DGR109")
    assert found.location is not None and found.location.line == branch.location.line
