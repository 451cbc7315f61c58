"""A task over another state cannot follow `>>` in an Order workflow."""

from attrs import frozen

from dsl import call, process, workflow


@frozen
class Order:
    order_id: str


@frozen
class Box:
    box_id: str


def pack(b: Box) -> Box:
    return b


Orders = workflow("Orders", Order, key=lambda o: o.order_id) >> process("PACK") >> call(pack)  # E: Argument 1 to "call" has incompatible type "Callable[[Box], Box]"; expected "Callable[[Order], Order | Awaitable[Order]]"  [arg-type]
