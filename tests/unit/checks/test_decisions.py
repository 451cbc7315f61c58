"""Decisions: exhaustive over finite types, labels of the type the chooser returns."""

from __future__ import annotations

from typing import Any, Literal

from dsl import call, decide, fail, process, workflow

from .models import Order, Status, keep
from .support import codes, only, run


def maybe_status(o: Order) -> Status | None:
    return o.status


def level(o: Order) -> Literal[1, 2]:
    return 1


def opaque(o: Order):  # type: ignore[no-untyped-def]  # a user may leave it out
    return o.status


def _decide_on(choose: Any, branches: Any) -> list[str]:
    wf = workflow("W", Order, key=lambda o: o.order_id) >> process("A")
    wf = wf >> decide(choose, branches=branches)
    return codes(run(wf))


def test_an_optional_enum_needs_a_branch_for_none() -> None:
    branches = {Status.NEW: call(keep), Status.PAID: call(keep)}
    assert _decide_on(maybe_status, branches) == ["DGR208"]
    assert _decide_on(maybe_status, {**branches, None: fail("no status")}) == []


def test_literal_labels_must_match_in_type_too() -> None:
    wf = (
        workflow("W", Order, key=lambda o: o.order_id)
        >> process("A")
        >> decide(
            level,
            branches={1: call(keep), "2": call(keep)},
        )
    )
    found = run(wf)
    assert codes(found) == ["DGR208", "DGR209"]
    assert only(found, "DGR208").message.startswith("decide(level) has no branch for 2;")
    assert only(found, "DGR209").message.startswith("label '2' of decide(level) is not a value")


def test_labels_that_compare_equal_collapse_into_one() -> None:
    wf = (
        workflow("W", Order, key=lambda o: o.order_id)
        >> process("A")
        >> decide(
            level,
            branches={1: call(keep), True: fail("x"), 2: call(keep)},  # noqa: F601 - under test
        )
    )
    found = only(run(wf), "DGR103")
    assert found.message == (
        "decide(level) has 3 labels but only 2 distinct ones: "
        "labels that compare equal (such as 1 and True) keep only the last branch"
    )


def test_a_complete_bool_mapping_passes() -> None:
    assert _decide_on(lambda o: o.paid, {True: call(keep), False: call(keep)}) == []


def test_open_types_are_not_checked_for_exhaustiveness() -> None:
    assert _decide_on(lambda o: o.address.city, {"Berlin": call(keep)}) == []


def test_an_unknown_chooser_type_says_nothing() -> None:
    assert _decide_on(opaque, {"anything": call(keep)}) == []
    assert _decide_on(lambda o: o.status.value, {3: call(keep)}) == []
