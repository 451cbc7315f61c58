"""A decide whose branches all fail: the rest of its process and the next process never run."""

from attrs import frozen

from dsl import call, decide, fail, process, workflow


@frozen
class Order:
    order_id: str
    paid: bool = False


def ship(o: Order) -> Order:
    return o


refund = process("REFUND", state=Order) >> fail("payment declined")

Orders = (
    workflow("Orders", Order, key=lambda o: o.order_id)
    >> process("ROUTE")
    >> decide(lambda o: o.paid, then=fail("double charge"), otherwise=refund)
    >> call(ship)
    >> process("SHIPPING")
    >> call(ship)
)
