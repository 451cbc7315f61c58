"""A command builder that makes another message than its topic carries."""

from typing import NewType

from attrs import frozen

from dsl import command, process, topic, workflow

OrderId = NewType("OrderId", str)


@frozen
class Order:
    order_id: OrderId
    amount_cents: int


@frozen
class Charge:
    order_id: OrderId
    amount_cents: int


@frozen
class Refund:
    order_id: OrderId


charges = topic("PAYMENT_COMMAND", Charge, key=lambda m: m.order_id)

Orders = (
    workflow("Orders", Order, key=lambda o: o.order_id)
    >> process("PAYMENT")
    >> command(charges, lambda o: Refund(o.order_id))  # expect: DGR301 Refund(o.order_id)
)
