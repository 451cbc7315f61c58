"""sleep takes a timedelta or a function of the state returning one, not a string."""

from attrs import frozen

from dsl import process, sleep, workflow


@frozen
class Order:
    order_id: str


Orders = workflow("Orders", Order, key=lambda o: o.order_id) >> process("WAIT") >> sleep("5m")  # E: Argument 1 to "sleep" has incompatible type "str"; expected "timedelta | Callable[[Never], timedelta]"  [arg-type]  # E: Argument 1 to "sleep" has incompatible type "str"; expected "timedelta | Callable[[Order], timedelta]"  [arg-type]
