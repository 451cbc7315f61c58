"""Listener callbacks that do not take (state, message) or do not return the state."""

from datetime import timedelta

from attrs import evolve, frozen

from dsl import listen, process, topic, workflow


@frozen
class Order:
    order_id: str
    paid: bool = False


@frozen
class PaymentResult:
    order_id: str
    ok: bool


@frozen
class BoxPacked:
    order_id: str


def record_box(o: Order, e: BoxPacked) -> Order:
    return o


def give_up(o: Order) -> bool:
    return False


def record_payment(o: Order) -> Order:
    return evolve(o, paid=True)


payments = topic("PAYMENT_LISTENER", PaymentResult, key=lambda m: m.order_id)

Orders = (
    workflow("Orders", Order, key=lambda o: o.order_id)
    >> process("PAYMENT")
    >> listen(payments, match=lambda o: o.order_id, on=record_box)
    >> listen(
        payments,
        match=lambda o: o.order_id,
        on=record_payment,
        timeout=timedelta(hours=1),
        on_timeout=give_up,
    )
)
