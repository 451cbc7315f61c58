"""A process built for another state cannot be chained into an Order workflow."""

from attrs import frozen

from dsl import process, workflow


@frozen
class Order:
    order_id: str


@frozen
class Shipment:
    shipment_id: str


Orders = (
    workflow("Orders", Order, key=lambda o: o.order_id)
    >> process("SHIPPING", state=Shipment)  # E: Argument "state" to "process" has incompatible type "type[Shipment]"; expected "type[Order] | None"  [arg-type]
)
