"""call(fn) must return the state (or an awaitable of it)."""

from attrs import frozen

from dsl import call, process, workflow


@frozen
class Order:
    order_id: str


def order_total(o: Order) -> int:
    return 0


Orders = (
    workflow("Orders", Order, key=lambda o: o.order_id)
    >> process("TOTAL")
    >> call(order_total)  # E: Cannot infer value of type parameter "S" of "call"  [misc]  # E: Argument 1 to "call" has incompatible type "Callable[[Order], int]"; expected "Callable[[Order], Order | Awaitable[Order]]"  [arg-type]
)
