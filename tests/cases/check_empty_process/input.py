"""A process with no tasks between two others."""

from attrs import frozen

from dsl import call, process, workflow


@frozen
class Order:
    order_id: str


def pay(o: Order) -> Order:
    return o


Orders = (
    workflow("Orders", Order, key=lambda o: o.order_id)
    >> process("PAYMENT")
    >> call(pay)
    >> process("FRAUD")
    >> process("SHIPPING")
    >> call(pay)
)
