"""A task chained onto the workflow before its first process."""

from attrs import frozen

from dsl import call, process, workflow


@frozen
class Order:
    order_id: str


def pay(o: Order) -> Order:
    return o


Orders = (
    workflow("Orders", Order, key=lambda o: o.order_id)
    >> call(pay)
    >> process("PAYMENT")
    >> call(pay)
)
