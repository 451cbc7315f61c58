"""Two workflows share the name 'Orders'."""

from attrs import frozen

from dsl import call, process, workflow


@frozen
class Order:
    order_id: str


def ship(o: Order) -> Order:
    return o


Orders = workflow("Orders", Order, key=lambda o: o.order_id) >> process("SHIP") >> call(ship)
Returns = workflow("Orders", Order, key=lambda o: o.order_id) >> process("RETURN") >> call(ship)
