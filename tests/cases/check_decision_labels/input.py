"""Decide labels of another type than the chooser returns, and a predicate that is not bool."""

import enum

from attrs import frozen

from dsl import call, decide, process, workflow


class Status(enum.Enum):
    NEW = "new"
    PAID = "paid"


@frozen
class Order:
    order_id: str
    status: Status
    carrier: str = ""


def ship(o: Order) -> Order:
    return o


Orders = (
    workflow("Orders", Order, key=lambda o: o.order_id)
    >> process("ROUTE")
    >> decide(lambda o: o.status, branches={"new": call(ship), Status.PAID: call(ship)})
    >> decide(lambda o: o.carrier, branches={"ups": call(ship), 3: call(ship)})
    >> decide(lambda o: o.carrier, then=call(ship), otherwise=call(ship))
)
