"""Decisions that miss values: an Enum field, a Literal-returning function, a bool mapping."""

import enum
from typing import Literal

from attrs import frozen

from dsl import call, decide, fail, process, workflow


class Status(enum.Enum):
    NEW = "new"
    PAID = "paid"
    CANCELLED = "cancelled"
    RETURNED = "returned"


@frozen
class Order:
    order_id: str
    status: Status
    express: bool = False


def speed(o: Order) -> Literal["slow", "normal", "fast"]:
    return "fast" if o.express else "normal"


def ship(o: Order) -> Order:
    return o


Orders = (
    workflow("Orders", Order, key=lambda o: o.order_id)
    >> process("ROUTE")
    >> decide(lambda o: o.status, branches={Status.NEW: fail("unpaid"), Status.PAID: call(ship)})
    >> decide(speed, branches={"normal": call(ship), "fast": call(ship)})
    >> decide(lambda o: o.express, branches={True: call(ship)})
)
