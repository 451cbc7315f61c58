"""A decide mapping names Status.NEW twice: the dict silently keeps only the second branch."""

import enum

from attrs import frozen

from dsl import call, decide, fail, process, workflow


class Status(enum.Enum):
    NEW = "new"
    PAID = "paid"


@frozen
class Order:
    order_id: str
    status: Status


def ship(o: Order) -> Order:
    return o


Orders = (
    workflow("Orders", Order, key=lambda o: o.order_id)
    >> process("ROUTE")
    >> decide(
        lambda o: o.status,
        branches={
            Status.NEW: fail("not paid yet"),
            Status.PAID: call(ship),
            Status.NEW: call(ship),
        },
    )
)
