"""A decide branch that is a process with no tasks."""

from attrs import frozen

from dsl import call, decide, process, workflow


@frozen
class Order:
    order_id: str
    paid: bool = False


def ship(o: Order) -> Order:
    return o


Orders = (
    workflow("Orders", Order, key=lambda o: o.order_id)
    >> process("ROUTE")
    >> decide(lambda o: o.paid, then=call(ship), otherwise=process("REFUND", state=Order))
)
