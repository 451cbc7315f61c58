"""A typo inside a lambda: mypy finds it in the lifted function; daggerc reports it here."""

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


charges = topic("PAYMENT_COMMAND", Charge, key=lambda m: m.order_id)

Orders = (
    workflow("Orders", Order, key=lambda o: o.order_id)
    >> process("PAYMENT")
    >> command(charges, lambda o: Charge(o.order_idx, o.amount_cents))  # expect: DGR301 o.order_idx
)
