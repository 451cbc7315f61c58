"""The order workflow: payment, preprocessing, fulfilment and shipping, as in the seed engine.

Compile it with `daggerc build examples/` and run it with `make demo`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import NewType

from attrs import evolve, frozen

from dsl import (
    Retry,
    call,
    command,
    decide,
    fail,
    listen,
    parallel,
    poll,
    process,
    topic,
    until,
    workflow,
)

OrderId = NewType("OrderId", str)
BoxId = NewType("BoxId", str)


@frozen
class Order:
    """The workflow's state."""

    order_id: OrderId
    amount_cents: int
    customer: str
    box_id: BoxId = BoxId("")
    paid: bool = False
    fraud_checked: bool = False
    reserved: bool = False
    packed: bool = False
    carrier: str = ""
    labels: int = 0
    pickup_booked: bool = False
    notified: bool = False
    placed_at: float = 0.0


@frozen
class Charge:
    order_id: OrderId
    amount_cents: int


@frozen
class PaymentResult:
    order_id: OrderId
    ok: bool
    box_id: BoxId


@frozen
class Fulfil:
    box_id: BoxId
    order_id: OrderId


@frozen
class BoxPacked:
    box_id: BoxId
    carrier: str


charges = topic("PAYMENT_COMMAND", Charge, key=lambda m: m.order_id)
payments = topic("PAYMENT_LISTENER", PaymentResult, key=lambda m: m.order_id)
fulfilments = topic("FULFILLMENT_COMMAND", Fulfil, key=lambda m: m.box_id)
packed = topic("FULFILLMENT_LISTENER", BoxPacked, key=lambda m: m.box_id)


def record_payment(o: Order, e: PaymentResult) -> Order:
    return evolve(o, paid=e.ok, box_id=e.box_id)


def record_box(o: Order, e: BoxPacked) -> Order:
    return evolve(o, packed=True, carrier=e.carrier)


def check_fraud(o: Order) -> Order:
    return evolve(o, fraud_checked=True)


async def reserve_stock(o: Order) -> Order:
    return evolve(o, reserved=True)


def warehouse_ready(o: Order) -> bool:
    return o.reserved


def ship_by(o: Order) -> datetime:
    return datetime.fromtimestamp(o.placed_at, UTC) + timedelta(days=2)


def add_label(o: Order) -> Order:
    return evolve(o, labels=o.labels + 1)


async def book_pickup(o: Order) -> Order:
    return evolve(o, pickup_booked=True)


async def notify(o: Order) -> Order:
    return evolve(o, notified=True)


refund = process("REFUND", state=Order) >> fail(lambda o: f"payment declined for {o.order_id}")

OrderWorkflow = (
    workflow("OrderWorkflow", Order, key=lambda o: o.order_id)
    >> process("PAYMENT", timeout=timedelta(hours=1))
    >> command(charges, lambda o: Charge(o.order_id, o.amount_cents))
    >> listen(payments, match=lambda o: o.order_id, on=record_payment)
    >> decide(lambda o: o.paid, then=call(check_fraud), otherwise=refund)
    >> process("PREPROCESS_FRAUD")
    >> call(check_fraud, retry=Retry(attempts=5))
    >> process("PREPROCESS_STOCK")
    >> call(reserve_stock, timeout=timedelta(seconds=5))
    >> process("FULFILLMENT")
    >> poll(warehouse_ready, every=timedelta(seconds=1), deadline=ship_by)
    >> command(fulfilments, lambda o: Fulfil(o.box_id, o.order_id))
    >> parallel(
        listen(packed, match=lambda o: o.box_id, on=record_box),
        call(add_label),
    )
    >> until(lambda o: datetime.fromtimestamp(o.placed_at, UTC))
    >> process("SHIPPING")
    >> parallel(call(add_label), call(book_pickup), call(notify), call(check_fraud))
    >> process("CONFIRM")
    >> parallel(call(notify), until(ship_by), join="any")
)
