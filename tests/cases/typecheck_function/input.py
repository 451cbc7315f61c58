"""A named function whose result does not fit: it may return None where the state is expected."""

from typing import NewType

from attrs import frozen

from dsl import call, process, workflow

OrderId = NewType("OrderId", str)


@frozen
class Order:
    order_id: OrderId


def bill(o: Order) -> Order | None:
    return o if o.order_id else None


Orders = (
    workflow("Orders", Order, key=lambda o: o.order_id)
    >> process("BILLING")
    >> call(bill)  # expect: DGR302 bill
)
