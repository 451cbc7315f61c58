"""parallel() with nothing to run."""

from attrs import frozen

from dsl import call, parallel, process, workflow


@frozen
class Order:
    order_id: str


def pay(o: Order) -> Order:
    return o


Orders = (
    workflow("Orders", Order, key=lambda o: o.order_id)
    >> process("PAYMENT")
    >> call(pay)
    >> parallel()
)
