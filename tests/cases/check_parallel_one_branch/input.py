"""A parallel with a single branch is only a warning: the check still exits 0."""

from attrs import frozen

from dsl import call, parallel, process, workflow


@frozen
class Order:
    order_id: str


def label(o: Order) -> Order:
    return o


Orders = (
    workflow("Orders", Order, key=lambda o: o.order_id)
    >> process("SHIPPING")
    >> parallel(call(label))
)
