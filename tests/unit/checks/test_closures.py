"""Callables that a compiled module cannot reach: captured locals and functions defined locally."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import FunctionType

from attrs import evolve

from codegen.checks.closures import unknown_names
from dsl import Step, call, fail, process, workflow

from .models import Order, keep
from .support import codes, only, run

PREFIX = "declined"


def failing_with(prefix: str) -> Step[Order]:
    return fail(lambda o: f"{prefix}: {o.order_id}")


def local_function() -> Callable[[Order], Order]:
    def mark(o: Order) -> Order:
        return evolve(o, paid=True)

    return mark


def test_module_level_names_are_fine() -> None:
    wf = (
        workflow("W", Order, key=lambda o: o.order_id)
        >> process("A")
        >> call(keep)
        >> fail(lambda o: f"{PREFIX}: {o.order_id}")
    )
    assert codes(run(wf)) == []


def test_a_captured_parameter_is_reported_at_the_lambda_in_the_factory() -> None:
    wf = workflow("W", Order, key=lambda o: o.order_id) >> process("A") >> failing_with("no")
    found = only(run(wf), "DGR110")
    assert found.message == (
        "lambda captures local variable 'prefix'; a compiled workflow can only use module-level names"
    )
    assert found.location is not None
    line = Path(__file__).read_text().splitlines()[found.location.line - 1]
    assert line.strip() == 'return fail(lambda o: f"{prefix}: {o.order_id}")'


def test_a_lambda_capturing_two_locals_names_both() -> None:
    low, high = 1, 2
    wf = (
        workflow("W", Order, key=lambda o: o.order_id)
        >> process("A")
        >> fail(lambda o: f"{low}-{high} {o.order_id}")
    )
    assert "local variables 'high', 'low'" in only(run(wf), "DGR110").message


def test_a_locally_defined_function_cannot_be_imported() -> None:
    wf = workflow("W", Order, key=lambda o: o.order_id) >> process("A") >> call(local_function())
    found = only(run(wf), "DGR110")
    assert "function 'local_function.<locals>.mark'" in found.message
    assert "defined inside another function" in found.message


def test_one_captured_lambda_used_twice_is_reported_once() -> None:
    stop = failing_with("no")
    wf = workflow("W", Order, key=lambda o: o.order_id) >> process("A") >> call(keep) >> stop
    wf = wf >> process("B") >> stop
    assert codes(run(wf)).count("DGR110") == 1


def uses_a_typo(o: Order) -> Order:
    return evolve(o, paid=bool(len(o.order_id)) and is_paid)  # type: ignore[name-defined]  # noqa: F821


def _unknown(fn: object) -> list[str]:
    assert isinstance(fn, FunctionType)
    return unknown_names(fn)


def test_global_names_a_module_lacks_are_found_in_functions_and_comprehensions() -> None:
    assert _unknown(uses_a_typo) == ["is_paid"]
    nested = lambda o: [ship_to(c) for c in o.order_id]  # type: ignore[name-defined]  # noqa: E731, F821
    assert _unknown(nested) == ["ship_to"]
    assert _unknown(lambda o: len(PREFIX) + abs(o.tries)) == []


def test_an_unknown_name_is_reported_with_the_task_that_uses_it() -> None:
    wf = workflow("W", Order, key=lambda o: o.order_id) >> process("A") >> call(uses_a_typo)
    found = only(run(wf), "DGR112")
    assert found.message == (
        "function 'uses_a_typo' ('fn' of call(uses_a_typo)) uses 'is_paid', "
        f"which module {__name__} does not define"
    )
