"""Unique names: processes in a workflow, workflows checked together, labels, topic messages."""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

from attrs import evolve

from codegen.check import check
from dsl import call, command, decide, fail, listen, process, topic, workflow
from dsl.model import ProcessDef

from .models import Order, Other, Paid, Status, keep
from .support import codes, loaded, only, run


def test_a_flow_reused_in_two_branches_repeats_its_process_names() -> None:
    refund = process("REFUND", state=Order) >> fail("declined")
    wf = (
        workflow("W", Order, key=lambda o: o.order_id)
        >> process("A")
        >> decide(lambda o: o.paid, then=call(keep), otherwise=refund)
        >> process("B")
        >> decide(lambda o: o.paid, then=call(keep), otherwise=refund)
    )
    found = only(run(wf), "DGR101")
    assert found.message.startswith("process name 'REFUND' is used twice in workflow 'W'")
    where = found.location
    assert where is not None
    text = Path(where.file).read_text().splitlines()[where.line - 1]
    assert text[where.column : where.end_column] == "refund"  # the second use, not the definition
    second = wf.items[1]
    assert isinstance(second, ProcessDef) and where.line == second.steps[0].location.line


def test_distinct_process_names_pass() -> None:
    wf = workflow("W", Order, key=lambda o: o.order_id) >> process("A") >> call(keep)
    wf = wf >> process("B") >> call(keep)
    assert "DGR101" not in codes(run(wf))


def test_one_workflow_bound_to_two_names_is_not_a_duplicate() -> None:
    wf = workflow("W", Order, key=lambda o: o.order_id) >> process("A") >> call(keep)
    once = loaded(wf)[0]
    twice = [once, evolve(once, variable="Alias")]
    assert "DGR102" not in codes(check(twice))


def test_two_workflows_with_one_name_are_reported_at_the_later_one() -> None:
    first = workflow("W", Order, key=lambda o: o.order_id) >> process("A") >> call(keep)
    second = workflow("W", Order, key=lambda o: o.order_id) >> process("B") >> call(keep)
    found = only(run(second, first), "DGR102")
    assert found.location is not None and found.location.line == second.location.line
    assert "already used by" in found.message


def test_a_mapping_built_elsewhere_cannot_repeat_a_label_visibly() -> None:
    branches = {Status.NEW: call(keep), Status.PAID: call(keep)}
    wf = (
        workflow("W", Order, key=lambda o: o.order_id)
        >> process("A")
        >> decide(lambda o: o.status, branches=branches)
    )
    assert codes(run(wf)) == []


def test_topics_sharing_a_name_and_message_are_one_topic() -> None:
    a = topic("PAID", Paid, key=lambda m: m.order_id)
    b = topic("PAID", Paid, key=lambda m: m.order_id)
    wf = (
        workflow("W", Order, key=lambda o: o.order_id)
        >> process("A")
        >> listen(a, match=lambda o: o.order_id)
        >> listen(b, match=lambda o: o.order_id)
    )
    assert "DGR201" not in codes(run(wf))


def test_a_clashing_topic_is_found_in_the_module_even_when_no_workflow_uses_it() -> None:
    used = topic("PAID", Paid, key=lambda m: m.order_id)
    module = ModuleType("dsl_module")
    module.unused = topic("PAID", Other, key=lambda m: m.name)  # type: ignore[attr-defined]
    wf = (
        workflow("W", Order, key=lambda o: o.order_id)
        >> process("A")
        >> command(used, lambda o: Paid(o.order_id, True))
    )
    found = only(run(wf, namespace=module), "DGR201")
    assert "message Other here but with Paid at" in found.message
    assert sys.modules.get("dsl_module") is None
