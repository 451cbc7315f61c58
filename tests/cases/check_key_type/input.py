"""listen(payments) correlates on a BoxId, but the payments topic is keyed by OrderId."""

from typing import NewType

from attrs import evolve, frozen

from dsl import listen, process, topic, workflow

OrderId = NewType("OrderId", str)
BoxId = NewType("BoxId", str)


@frozen
class Order:
    order_id: OrderId
    box_id: BoxId
    paid: bool = False


@frozen
class PaymentResult:
    order_id: OrderId
    ok: bool


def record(o: Order, e: PaymentResult) -> Order:
    return evolve(o, paid=e.ok)


def box_of(o: Order) -> BoxId:
    return o.box_id


payments = topic("PAYMENT_LISTENER", PaymentResult, key=lambda m: m.order_id)

Orders = (
    workflow("Orders", Order, key=lambda o: o.order_id)
    >> process("PAYMENT")
    >> listen(payments, match=lambda o: o.box_id, on=record)
    >> process("RETRY")
    >> listen(payments, match=box_of, on=record)
    >> process("SETTLE")
    >> listen(payments, match=lambda o: o.order_id, on=record)
)
