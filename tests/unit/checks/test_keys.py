"""Correlation keys: listen(match=...) against the topic's key, NewType-aware."""

from __future__ import annotations

from dsl import listen, process, topic, workflow

from .models import BoxId, Order, OrderId, Paid
from .support import codes, only, run


def box_of(o: Order) -> BoxId:
    return o.box_id


def plain_key(m: Paid) -> str:
    return m.order_id


def lookup(o: Order) -> OrderId:
    return o.order_id


def test_a_newtype_match_fits_a_topic_keyed_by_plain_str() -> None:
    plain = topic("PAID", Paid, key=plain_key)
    wf = (
        workflow("W", Order, key=lambda o: o.order_id)
        >> process("A")
        >> listen(plain, match=lambda o: o.order_id)
    )
    assert codes(run(wf)) == []


def test_a_plain_str_match_does_not_fit_a_newtype_key() -> None:
    paid = topic("PAID", Paid, key=lambda m: m.order_id)
    wf = (
        workflow("W", Order, key=lambda o: o.order_id)
        >> process("A")
        >> listen(paid, match=lambda o: o.address.city)  # type: ignore[arg-type, return-value]
    )
    found = only(run(wf), "DGR204")
    assert found.message == "listen(paid) matches on str but the topic is keyed by OrderId"


def test_named_functions_on_either_side_are_compared() -> None:
    paid = topic("PAID", Paid, key=lambda m: m.order_id)
    wf = (
        workflow("W", Order, key=lambda o: o.order_id)
        >> process("A")
        >> listen(
            paid,
            match=box_of,  # type: ignore[arg-type]  # the mistake under test
        )
    )
    assert "matches on BoxId" in only(run(wf), "DGR204").message


def test_an_unresolvable_side_says_nothing() -> None:
    paid = topic("PAID", Paid, key=lambda m: m.order_id)
    wf = (
        workflow("W", Order, key=lambda o: o.order_id)
        >> process("A")
        >> listen(paid, match=lambda o: lookup(o))  # noqa: PLW0108 - a call's type is not resolved
    )
    assert codes(run(wf)) == []
