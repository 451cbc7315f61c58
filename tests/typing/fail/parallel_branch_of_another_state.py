"""parallel branches share the workflow's state."""

from attrs import frozen

from dsl import call, parallel, process, workflow


@frozen
class Order:
    order_id: str


@frozen
class Label:
    text: str


def notify(o: Order) -> Order:
    return o


def print_label(label: Label) -> Label:
    return label


Orders = (
    workflow("Orders", Order, key=lambda o: o.order_id)
    >> process("SHIPPING")
    >> parallel(call(notify), call(print_label))  # E: Cannot infer value of type parameter "S" of "parallel"  [misc]  # E: Argument 1 to "call" has incompatible type "Callable[[Label], Label]"; expected "Callable[[Order], Order | Awaitable[Order]]"  [arg-type]
)
