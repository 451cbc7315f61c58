"""The benchmark workflow: an order in two processes, PAYMENT then SHIPPING.

Each process sends a command and waits for the reply correlated by order id; the bench's simulated
services answer every command. The same workflow is written for the seed engine in
bench/wf_dagger/workload.py and as plain messages in bench/contenders/kafka_raw_echo.py.
"""

from __future__ import annotations

from typing import NewType

from attrs import evolve, frozen

from dsl import command, listen, process, topic, workflow

OrderId = NewType("OrderId", str)


@frozen
class Order:
    """The workflow's state."""

    order_id: OrderId
    amount_cents: int
    paid: bool = False
    tracking: str = ""


@frozen
class Charge:
    order_id: OrderId
    amount_cents: int


@frozen
class PaymentResult:
    order_id: OrderId
    ok: bool


@frozen
class Ship:
    order_id: OrderId
    address: str


@frozen
class Shipped:
    order_id: OrderId
    tracking: str


charges = topic("BENCH_PAYMENT_COMMAND", Charge, key=lambda m: m.order_id)
payments = topic("BENCH_PAYMENT_LISTENER", PaymentResult, key=lambda m: m.order_id)
shipments = topic("BENCH_SHIPPING_COMMAND", Ship, key=lambda m: m.order_id)
shipped = topic("BENCH_SHIPPING_LISTENER", Shipped, key=lambda m: m.order_id)


def record_payment(o: Order, e: PaymentResult) -> Order:
    return evolve(o, paid=e.ok)


def record_shipment(o: Order, e: Shipped) -> Order:
    return evolve(o, tracking=e.tracking)


Orders2 = (
    workflow("Orders2", Order, key=lambda o: o.order_id)
    >> process("PAYMENT")
    >> command(charges, lambda o: Charge(o.order_id, o.amount_cents))
    >> listen(payments, match=lambda o: o.order_id, on=record_payment)
    >> process("SHIPPING")
    >> command(shipments, lambda o: Ship(o.order_id, "1 Main St"))
    >> listen(shipped, match=lambda o: o.order_id, on=record_shipment)
)
