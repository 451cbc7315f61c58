"""Every decide branch runs on the workflow's state."""

from attrs import frozen

from dsl import call, decide, process, workflow


@frozen
class Order:
    order_id: str
    paid: bool = False


@frozen
class Shipment:
    shipment_id: str


def ship(s: Shipment) -> Shipment:
    return s


def charge(o: Order) -> Order:
    return o


shipping = process("SHIPPING", state=Shipment) >> call(ship)

Orders = (
    workflow("Orders", Order, key=lambda o: o.order_id)
    >> process("ROUTE")
    >> decide(lambda o: o.paid, then=shipping, otherwise=call(charge))  # E: Cannot infer value of type parameter "S" of "decide"  [misc]  # E: Argument "then" to "decide" has incompatible type "Flow[Shipment]"; expected "Node[Order]"  [arg-type]
)
