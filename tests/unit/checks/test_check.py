"""The check stage as a whole: every family runs, each problem once, in source order."""

from __future__ import annotations

from codegen.check import check
from dsl import call, command, decide, fail, listen, parallel, process, topic, workflow

from .models import Order, Other, Paid, keep
from .support import codes, loaded, run


def test_nothing_to_check_is_no_problem() -> None:
    assert check([]) == []


def test_one_run_reports_every_problem_of_every_family_in_order() -> None:
    paid = topic("PAID", Paid, key=lambda m: m.order_id)
    others = topic("OTHERS", Other, key=lambda m: m.name)
    wf = (
        workflow("W", Order, key=lambda o: o.order_id)
        >> process("A")
        >> listen(paid, match=lambda o: o.box_id)  # type: ignore[arg-type, return-value]  # DGR204
        >> command(others, lambda o: Other("x"))
        >> parallel()  # DGR105
        >> decide(lambda o: o.status, branches={})  # DGR208
        >> process("A")  # DGR101, DGR104
        >> process("B")
        >> fail(lambda o: o.paid)  # type: ignore[arg-type, return-value]  # DGR212
        >> call(keep)  # DGR109
    )
    found = run(wf)
    assert codes(found) == [
        "DGR204",
        "DGR105",
        "DGR208",
        "DGR101",
        "DGR104",
        "DGR212",
        "DGR109",
    ]
    assert found == sorted(found, key=lambda d: d.sort_key)
    assert all(d.hint for d in found)


def test_a_workflow_checked_twice_reports_each_problem_once() -> None:
    wf = workflow("W", Order, key=lambda o: o.order_id) >> process("A")
    assert codes(check([*loaded(wf), *loaded(wf)])) == ["DGR104"]
