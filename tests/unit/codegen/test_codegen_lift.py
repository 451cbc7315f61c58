"""Lambda lifting: a lambda's source is found through its code object, copied as written and its
free names imported from where its module got them; what cannot be lifted is a located
diagnostic; a DSL package with relative and star imports compiles and type-checks."""

from __future__ import annotations

import functools
import textwrap
from pathlib import Path

import pytest
from codegen_support import (
    fresh_input,  # noqa: F401 - a fixture: pytest finds it by name
    messages,
)

from codegen.imports import ImportTracker
from codegen.lift import Lifter, LiftError, Slot
from codegen.pipeline import compile_paths, module_names
from dsl.errors import Location

HERE = Location(__file__, 1, 0, 1, 1)
ONE = Slot("call(fn=...)", "fn", (("state", "int"),), "int", 0)
LIMIT = 10

first, second = (lambda x: x + 1), (lambda y: y * LIMIT)
shared = lambda z: min(z, LIMIT)  # noqa: E731 - a lambda bound to a name, found all the same


def lifter() -> tuple[Lifter, ImportTracker]:
    tracker = ImportTracker()
    return Lifter(tracker, lambda where: f"{Path(where.file).name}:{where.line}"), tracker


def test_two_lambdas_on_one_line_are_told_apart() -> None:
    lift, _ = lifter()
    assert lift.lift(first, "_f", ONE, HERE).body == "x + 1"
    assert lift.lift(second, "_g", ONE, HERE).body == "y * LIMIT"


def test_free_names_are_imported_from_the_lambdas_module() -> None:
    lift, tracker = lifter()
    function = lift.lift(shared, "_h", ONE, HERE)
    assert function.signature == "def _h(z: int) -> int:"
    assert function.statement == "return min(z, LIMIT)"
    assert tracker.header() == (f"from {__name__} import LIMIT",)
    assert function.origin.what == "lambda"
    assert function.origin.location.line == shared.__code__.co_firstlineno


def test_a_named_function_is_imported_and_wrapped() -> None:
    lift, tracker = lifter()
    function = lift.lift(textwrap.dedent, "_w", ONE, HERE)
    assert function.statement == "return dedent(state)"
    assert function.origin.what == "fn=dedent"
    assert tracker.header() == ("from textwrap import dedent",)


def test_a_lambda_that_captures_a_local_names_it() -> None:
    limit = 3
    lift, _ = lifter()
    with pytest.raises(LiftError) as raised:
        lift.lift(lambda n: n < limit, "_c", ONE, HERE)
    assert raised.value.diagnostic.code == "DGR311"
    assert "uses 'limit', which is not a module-level name" in raised.value.diagnostic.message


def test_a_lambda_with_the_wrong_number_of_parameters_says_what_it_is_called_with() -> None:
    lift, _ = lifter()
    with pytest.raises(LiftError) as raised:
        lift.lift(lambda a, b: a, "_a", ONE, HERE)
    assert raised.value.diagnostic.code == "DGR312"
    assert raised.value.diagnostic.message == (
        "the lambda passed as call(fn=...) takes 2 parameter(s); it is called with 1 (state)"
    )


def test_a_callable_without_an_importable_name_is_refused() -> None:
    lift, _ = lifter()
    with pytest.raises(LiftError) as raised:
        lift.lift(functools.partial(max, 0), "_p", ONE, HERE)
    assert raised.value.diagnostic.code == "DGR313"
    assert "cannot import" in raised.value.diagnostic.message


# ---------------------------------------------------------------------- a DSL package

MODELS = """
from attrs import evolve, frozen

@frozen
class Ticket:
    ticket_id: str
    hops: int = 0

def bump(t: Ticket) -> Ticket:
    return evolve(t, hops=t.hops + 1)

LIMIT = 5
"""

FLOWS = """
from attrs import evolve

from dsl import call, process, workflow

from .models import Ticket
from .models import bump as hop
from .util import *

Triage = (
    workflow("Triage", Ticket, key=lambda t: t.ticket_id)
    >> process("TRIAGE")
    >> call(lambda t: hop(evolve(t, hops=capped(t.hops))))
)
Escalate = workflow("Escalate", Ticket, key=lambda t: t.ticket_id) >> process("UP") >> call(hop)
"""

UTIL = """
from .models import LIMIT

def capped(n: int) -> int:
    return min(n, LIMIT)
"""


@pytest.mark.usefixtures("fresh_input")
def test_a_dsl_package_with_relative_and_star_imports_compiles_and_type_checks(
    tmp_path: Path,
) -> None:
    package = tmp_path / "helpdesk"
    package.mkdir()
    for name, text in {"__init__": "", "models": MODELS, "flows": FLOWS, "util": UTIL}.items():
        (package / f"{name}.py").write_text(text, encoding="utf-8")
    result = compile_paths([package], None, typecheck=True)
    assert messages(result) == []
    texts = {m.name: m.text for m in result.modules}
    assert sorted(texts) == ["__init__", "flows_escalate", "flows_triage"]
    triage = texts["flows_triage"]
    assert "from helpdesk.models import Ticket\n" in triage
    assert "from helpdesk.models import bump as hop\n" in triage
    assert "from helpdesk.util import capped\n" in triage
    assert "    return hop(evolve(t, hops=capped(t.hops)))\n" in triage


def test_module_names_follow_the_dsl_module_and_stay_distinct() -> None:
    from codegen.loader import LoadedWorkflow  # noqa: PLC0415 - only this test needs it

    def loaded(module: str, variable: str) -> LoadedWorkflow:
        return LoadedWorkflow(variable, module, "", None, None)  # type: ignore[arg-type]

    workflows = [
        loaded("shop.orders", "OrderWorkflow"),
        loaded("shop.returns", "ReturnFlow"),
        loaded("shop.returns", "RefundFlow"),
        loaded("billing.orders", "Invoices"),
    ]
    assert module_names(workflows) == [
        "shop_orders",
        "returns_return_flow",
        "returns_refund_flow",
        "billing_orders",
    ]
