"""fail(reason=...) gives a str."""

from attrs import frozen

from dsl import fail, process, workflow


@frozen
class Order:
    order_id: str
    attempts: int


def attempts(o: Order) -> int:
    return o.attempts


Orders = workflow("Orders", Order, key=lambda o: o.order_id) >> process("STOP") >> fail(attempts)  # E: Argument 1 to "fail" has incompatible type "Callable[[Order], int]"; expected "str | Callable[[Never], str]"  [arg-type]  # E: Argument 1 to "fail" has incompatible type "Callable[[Order], int]"; expected "str | Callable[[Order], str]"  [arg-type]
