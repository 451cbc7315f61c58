"""A listener whose `match` is the workflow's key expression is marked `by_key` (the engine then
finds its run by the run's id, with no correlation index): the same expression of the one
parameter, whatever each lambda calls it; anything else is not."""

from __future__ import annotations

import pytest

from codegen.ir import Function, Origin, Param
from codegen.lower_values import same_expression
from dsl.errors import Location

HERE = Location("input.py", 1, 0, 1, 10)


def fn(body: str, *params: str) -> Function:
    return Function(
        name="_f",
        params=tuple(Param(p, "Order") for p in params),
        returns="str",
        body=body,
        comment="",
        origin=Origin(HERE, "lambda", "DGR301"),
    )


KEY = fn("o.order_id", "o")


@pytest.mark.parametrize(
    "match",
    [
        fn("o.order_id", "o"),
        fn("order.order_id", "order"),  # another parameter name
        fn("(state.order_id)", "state"),  # parentheses change no expression
    ],
)
def test_the_key_expression_over_any_parameter_name_is_by_key(match: Function) -> None:
    assert same_expression(match, KEY)


@pytest.mark.parametrize(
    "match",
    [
        fn("o.box_id", "o"),  # another field
        fn("o.order_id.upper()", "o"),  # more than the key
        fn("o.order_id", "x"),  # `o` here is some global, not the parameter
        fn("o.order_id + x", "o", "x"),  # two parameters
    ],
)
def test_any_other_expression_is_not(match: Function) -> None:
    assert not same_expression(match, KEY)


def test_one_named_function_for_both_is_by_key() -> None:
    """`key=order_key, match=order_key`: both are lifted as a call of it."""
    assert same_expression(fn("order_key(state)", "state"), fn("order_key(state)", "state"))
    assert not same_expression(fn("order_key(state)", "state"), fn("box_key(state)", "state"))
