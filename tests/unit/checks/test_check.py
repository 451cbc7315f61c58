"""The check stage as a whole: every family runs, each problem once, in source order."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from codegen.check import check
from codegen.loader import load
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


def test_a_thousand_task_chain_loads_and_checks_clean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chain of 1,000 tasks (250 processes, each with lambdas and a decision) loads with every
    process in place and checks clean. How long it takes is measured by `python -m bench.compile`
    (it took minutes when each lambda walked the file's AST; now well under a second)."""
    chain = "".join(
        f'    >> process("P{i}")\n    >> call(bump)\n    >> call(lambda o: o)\n'
        "    >> decide(lambda o: o.paid, then=call(bump), otherwise=fail(lambda o: o.order_id))\n"
        for i in range(250)
    )
    dsl_file = tmp_path / "dgr_long_chain.py"
    dsl_file.write_text(
        "from attrs import frozen\nfrom dsl import call, decide, fail, process, workflow\n\n\n"
        "@frozen\nclass Order:\n    order_id: str\n    paid: bool = False\n\n\n"
        "def bump(o: Order) -> Order:\n    return o\n\n\n"
        f"Long = (\n    workflow('Long', Order, key=lambda o: o.order_id)\n{chain})\n"
    )
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "dgr_long_chain", raising=False)
    result = load([str(dsl_file)])
    found = check(result.workflows)
    sys.modules.pop("dgr_long_chain", None)
    assert (result.diagnostics, found) == ((), [])
    assert len(result.workflows[0].workflow.items) == 250
