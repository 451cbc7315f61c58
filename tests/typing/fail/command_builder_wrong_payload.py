"""A command's builder must make the topic's message type."""

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


def build_refund(o: Order) -> Refund:
    return Refund(o.order_id)


charges = topic("PAYMENT_COMMAND", Charge, key=lambda m: m.order_id)

Orders = (
    workflow("Orders", Order, key=lambda o: o.order_id)
    >> process("PAYMENT")
    >> command(charges, lambda o: Refund(o.order_id))  # E: Argument 2 to "command" has incompatible type "Callable[[Never], Refund]"; expected "Callable[[Never], Charge]"  [arg-type]  # E: Argument 2 to "command" has incompatible type "Callable[[Order], Refund]"; expected "Callable[[Order], Charge]"  [arg-type]  # E: Incompatible return value type (got "Refund", expected "Charge")  [return-value]
    >> command(charges, build_refund)  # E: Argument 2 to "command" has incompatible type "Callable[[Order], Refund]"; expected "Callable[[Order], Charge]"  [arg-type]
)
