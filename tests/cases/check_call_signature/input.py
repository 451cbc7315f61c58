"""call(...) functions that take or return another type than the workflow state."""

from attrs import frozen

from dsl import call, process, workflow


@frozen
class Order:
    order_id: str


@frozen
class Box:
    box_id: str


def pack(o: Order) -> Box:
    return Box(o.order_id)


async def weigh(b: Box) -> Order:
    return Order(b.box_id)


def log_error(o: Order, error: int) -> Order:
    return o


def merge(o: Order, other: Order) -> Order:
    return o


Orders = (
    workflow("Orders", Order, key=lambda o: o.order_id)
    >> process("PACK")
    >> call(pack)
    >> call(weigh)
    >> call(merge)
    >> call(lambda o: o, on_error=log_error)
)
