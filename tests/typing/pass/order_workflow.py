"""The order workflow of DESIGN.md, with the listener's fold as a named function."""

from datetime import timedelta
from typing import NewType

from attrs import evolve, frozen

from dsl import Flow, Workflow, call, command, decide, fail, listen, process, topic, workflow

OrderId = NewType("OrderId", str)


@frozen
class Order:
    order_id: OrderId
    amount_cents: int
    paid: bool = False


@frozen
class Charge:
    order_id: OrderId
    amount_cents: int


@frozen
class PaymentResult:
    order_id: OrderId
    ok: bool


charges = topic("PAYMENT_COMMAND", Charge, key=lambda m: m.order_id)
payments = topic("PAYMENT_LISTENER", PaymentResult, key=lambda m: m.order_id)


async def ship(o: Order) -> Order:
    return o


def record_payment(o: Order, e: PaymentResult) -> Order:
    return evolve(o, paid=e.ok)


shipping: Flow[Order] = process("SHIPPING", state=Order) >> call(ship)
refund = process("REFUND", state=Order) >> fail(lambda o: f"payment declined for {o.order_id}")

OrderWorkflow: Workflow[Order] = (
    workflow("OrderWorkflow", Order, key=lambda o: o.order_id)
    >> process("PAYMENT", timeout=timedelta(hours=1))
    >> command(charges, lambda o: Charge(o.order_id, o.amount_cents))
    >> listen(payments, match=lambda o: o.order_id, on=record_payment)
    >> decide(lambda o: o.paid, then=shipping, otherwise=refund)
)
