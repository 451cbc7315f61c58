"""A process declared for another state type, used in an Order workflow."""

from attrs import frozen

from dsl import call, decide, process, workflow


@frozen
class Order:
    order_id: str
    paid: bool = False


@frozen
class Shipment:
    order_id: str


def ship(s: Shipment) -> Shipment:
    return s


def charge(o: Order) -> Order:
    return o


shipping = process("SHIPPING", state=Shipment) >> call(ship)

Orders = (
    workflow("Orders", Order, key=lambda o: o.order_id)
    >> process("PAYMENT")
    >> call(charge)
    >> decide(lambda o: o.paid, then=shipping, otherwise=call(charge))
)
