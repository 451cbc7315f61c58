"""A listener whose `on` returns the message instead of the state."""

from typing import NewType

from attrs import evolve, frozen

from dsl import listen, process, topic, workflow

OrderId = NewType("OrderId", str)


@frozen
class Order:
    order_id: OrderId
    paid: bool = False


@frozen
class Paid:
    order_id: OrderId
    ok: bool


payments = topic("PAYMENT_LISTENER", Paid, key=lambda m: m.order_id)

Orders = (
    workflow("Orders", Order, key=lambda o: o.order_id)
    >> process("PAYMENT")
    >> listen(
        payments,
        match=lambda o: o.order_id,
        on=lambda o, e: evolve(e, ok=True),  # expect: DGR301 evolve(e, ok=True)
    )
)
