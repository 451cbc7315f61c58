"""Key functions must give a str (or a NewType of str): a topic keyed by int, a workflow too."""

from attrs import frozen

from dsl import command, process, topic, workflow


@frozen
class Order:
    order_id: str
    number: int


@frozen
class Charge:
    number: int
    amount_cents: int


def order_number(o: Order) -> int:
    return o.number


charges = topic("PAYMENT_COMMAND", Charge, key=lambda m: m.number)

Orders = (
    workflow("Orders", Order, key=order_number)
    >> process("PAYMENT")
    >> command(charges, lambda o: Charge(o.number, 100))
)
