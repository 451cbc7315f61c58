"""A command whose named builder makes another message than the topic carries."""

from attrs import frozen

from dsl import command, process, topic, workflow


@frozen
class Order:
    order_id: str
    amount_cents: int


@frozen
class Charge:
    order_id: str
    amount_cents: int


@frozen
class Refund:
    order_id: str


@frozen
class Box:
    box_id: str


def build_refund(o: Order) -> Refund:
    return Refund(o.order_id)


def build_charge(b: Box) -> Charge:
    return Charge(b.box_id, 0)


charges = topic("PAYMENT_COMMAND", Charge, key=lambda m: m.order_id)

Orders = (
    workflow("Orders", Order, key=lambda o: o.order_id)
    >> process("PAYMENT")
    >> command(charges, build_refund)
    >> command(charges, build_charge)
)
