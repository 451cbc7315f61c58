"""fail with a fixed reason or one computed from the state; a lambda reads fields typed by `>>`."""

from attrs import frozen

from dsl import decide, fail, process, workflow


@frozen
class Order:
    order_id: str
    paid: bool = False


Orders = (
    workflow("Orders", Order, key=lambda o: o.order_id)
    >> process("CHECK")
    >> decide(
        lambda o: o.paid,
        then=fail(lambda o: f"order {o.order_id} paid twice"),
        otherwise=fail("not paid"),
    )
)
