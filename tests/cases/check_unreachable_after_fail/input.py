"""Tasks after fail(...) in one process, and a process after a process that always fails."""

from datetime import timedelta

from attrs import frozen

from dsl import call, fail, process, workflow


@frozen
class Order:
    order_id: str


def notify(o: Order) -> Order:
    return o


Orders = (
    workflow("Orders", Order, key=lambda o: o.order_id)
    >> process("CHECK", timeout=timedelta(minutes=5))
    >> fail("checks are not implemented")
    >> call(notify)
    >> process("CANCEL")
    >> fail(lambda o: f"order {o.order_id} cancelled")
    >> process("NOTIFY")
    >> call(notify)
)
