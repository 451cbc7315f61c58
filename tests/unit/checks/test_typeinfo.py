"""Static types of user callables: annotations for named functions, attribute chains for lambdas."""

from __future__ import annotations

from collections.abc import Awaitable, Coroutine
from types import FunctionType
from typing import Any, Literal, NewType

import pytest

from codegen.checks.typeinfo import Known, awaited, is_assignable, lambda_node, returns, type_name

from .models import Address, BoxId, Order, OrderId, Paid

SubId = NewType("SubId", OrderId)


@pytest.mark.parametrize(
    ("src", "dst", "expected"),
    [
        (OrderId, str, True),
        (SubId, str, True),
        (SubId, OrderId, True),
        (str, OrderId, False),
        (BoxId, OrderId, False),
        (OrderId, OrderId, True),
        (bool, int, True),
        (int, bool, False),
        (Order, object, True),
        (int, Any, True),
        (list[str], str, False),
        (list[str], list, True),
        (Coroutine[Any, Any, int], int, False),
        (str, list[str], None),
        (str | None, str, None),
    ],
)
def test_assignability_is_newtype_aware(src: object, dst: object, expected: bool | None) -> None:
    assert is_assignable(src, dst) is expected


def test_lambda_attribute_chains_follow_attrs_field_annotations() -> None:
    assert returns(lambda o: o.order_id, [Order]) == Known(OrderId)
    assert returns(lambda o: o.address.city, [Order]) == Known(str)
    assert returns(lambda o, e: e.ok, [Order, Paid]) == Known(bool)
    assert returns(lambda o: o, [Order]) == Known(Order)


def test_lambda_shapes_with_certain_types() -> None:
    assert returns(lambda o: f"late {o.order_id}", [Order]) == Known(str)
    assert returns(lambda o: o.paid is False, [Order]) == Known(bool)
    assert returns(lambda o: not o.paid, [Order]) == Known(bool)
    assert returns(lambda o: 3, [Order]) == Known(int)


def test_unknowable_lambdas_say_nothing() -> None:
    assert returns(lambda o: o.missing, [Order]) is None
    assert returns(lambda o: o.address.city.upper(), [Order]) is None
    assert returns(lambda o: o.order_id.upper, [Order]) is None
    assert returns(lambda o: o.order_id, [object]) is None


def test_two_lambdas_on_one_line_are_told_apart() -> None:
    first, second = (lambda o: o.box_id), (lambda o: o.order_id)
    assert returns(first, [Order]) == Known(BoxId)
    assert returns(second, [Order]) == Known(OrderId)
    assert isinstance(second, FunctionType)
    node = lambda_node(second)
    assert node is not None and node.col_offset > 0


def named(o: Order) -> OrderId:
    return o.order_id


async def fetched(o: Order) -> Order:
    return o


def unannotated(o):  # type: ignore[no-untyped-def]  # a user may leave annotations out
    return o


def broken(o: Order) -> Missing:  # type: ignore[name-defined]  # noqa: F821  # unresolvable on purpose
    raise NotImplementedError


def test_named_functions_answer_through_their_return_annotation() -> None:
    assert returns(named, [Order]) == Known(OrderId)
    assert returns(unannotated, [Order]) is None
    assert returns(broken, [Order]) is None
    assert returns(len, [Order]) is None


def test_async_functions_return_a_coroutine_that_awaits_to_the_annotation() -> None:
    found = returns(fetched, [Order])
    assert found is not None
    assert awaited(found.tp) is Order
    assert type_name(found.tp) == "Coroutine[Any, Any, Order]"
    assert awaited(Awaitable[Order]) is Order
    assert awaited(Coroutine[Any, Any, int]) is int
    assert awaited(Order) is Order


@pytest.mark.parametrize(
    ("tp", "name"),
    [
        (OrderId, "OrderId"),
        (set[str], "set[str]"),
        (int | None, "int | None"),
        (Literal["a", 1], "Literal['a', 1]"),
        (tuple[Address, ...], "tuple[Address, ...]"),
        (dict[str, list[int]], "dict[str, list[int]]"),
        (Any, "Any"),
        (None, "None"),
    ],
)
def test_type_names_read_as_written(tp: object, name: str) -> None:
    assert type_name(tp) == name
