"""One file, three different mistakes: one run reports all three, each where it was written."""

import enum
from typing import NewType

from attrs import evolve, frozen

from dsl import call, decide, fail, listen, process, topic, workflow

OrderId = NewType("OrderId", str)
BoxId = NewType("BoxId", str)


class Carrier(enum.Enum):
    UPS = "ups"
    DHL = "dhl"
    POST = "post"


@frozen
class Order:
    order_id: OrderId
    box_id: BoxId
    carrier: Carrier
    packed: bool = False


@frozen
class BoxPacked:
    order_id: OrderId


def record(o: Order, e: BoxPacked) -> Order:
    return evolve(o, packed=True)


def ship(o: Order) -> Order:
    return o


packed = topic("FULFILLMENT_LISTENER", BoxPacked, key=lambda m: m.order_id)

Orders = (
    workflow("Orders", Order, key=lambda o: o.order_id)
    >> process("FULFILLMENT")
    >> listen(packed, match=lambda o: o.box_id, on=record)
    >> decide(lambda o: o.carrier, branches={Carrier.UPS: call(ship), Carrier.DHL: call(ship)})
    >> process("CANCEL")
    >> fail("cancelled")
    >> call(ship)
)
