"""Decisions: a predicate with then/otherwise, branches over an Enum and over a Literal."""

import enum
from typing import Literal

from attrs import frozen

from dsl import call, decide, fail, process, workflow


class Carrier(enum.Enum):
    UPS = "ups"
    DHL = "dhl"


@frozen
class Order:
    order_id: str
    carrier: Carrier
    express: bool = False


def speed(o: Order) -> Literal["slow", "fast"]:
    return "fast" if o.express else "slow"


def ship(o: Order) -> Order:
    return o


Orders = (
    workflow("Orders", Order, key=lambda o: o.order_id)
    >> process("ROUTE")
    >> decide(lambda o: o.express, then=call(ship), otherwise=call(ship))
    >> decide(lambda o: o.carrier, branches={Carrier.UPS: call(ship), Carrier.DHL: fail("no")})
    >> decide(speed, branches={"slow": call(ship), "fast": call(ship)})
)
