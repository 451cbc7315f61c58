"""Workflow shape: empty processes, branches and parallels; the first process; process state."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from codegen.diagnostics import Severity
from dsl import call, decide, fail, parallel, process, sleep, workflow

from .models import Order, Other, keep
from .support import codes, only, run


def test_an_empty_branch_is_reported_as_a_branch_not_also_as_an_empty_process() -> None:
    wf = (
        workflow("W", Order, key=lambda o: o.order_id)
        >> process("A")
        >> decide(lambda o: o.paid, then=process("X", state=Order), otherwise=call(keep))
    )
    found = run(wf)
    assert codes(found) == ["DGR106"]
    assert found[0].message == "then of decide(...) has no tasks"


def test_a_branch_whose_second_process_is_empty_reports_that_process() -> None:
    branch = process("X", state=Order) >> call(keep) >> process("Y", state=Order)
    wf = (
        workflow("W", Order, key=lambda o: o.order_id)
        >> process("A")
        >> decide(lambda o: o.paid, then=branch, otherwise=sleep(timedelta(seconds=1)))
    )
    assert only(run(wf), "DGR104").message == "process 'Y' has no tasks"


def test_a_bare_task_is_a_complete_branch() -> None:
    wf = (
        workflow("W", Order, key=lambda o: o.order_id)
        >> process("A")
        >> parallel(call(keep), fail("stop"))
    )
    assert codes(run(wf)) == []


def test_one_branch_parallel_is_only_a_warning() -> None:
    wf = workflow("W", Order, key=lambda o: o.order_id) >> process("A") >> parallel(call(keep))
    found = only(run(wf), "DGR111")
    assert found.severity is Severity.WARNING


def test_a_process_on_the_workflows_state_passes_and_another_state_does_not() -> None:
    same = process("S", state=Order) >> call(keep)
    other: Any = process("O", state=Other) >> fail("x")  # the mistake under test
    wf = (
        workflow("W", Order, key=lambda o: o.order_id)
        >> process("A")
        >> decide(lambda o: o.paid, then=same, otherwise=other)
    )
    found = only(run(wf), "DGR211")
    assert "state=Other but workflow 'W' has state Order" in found.message


def test_only_the_first_of_several_leading_tasks_is_reported() -> None:
    wf = workflow("W", Order, key=lambda o: o.order_id) >> call(keep) >> call(keep)
    wf = wf >> process("A") >> call(keep)
    assert codes(run(wf)) == ["DGR108"]
