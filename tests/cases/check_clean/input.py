"""A workflow with nothing to report: `daggerc check` prints ok and exits 0."""

import enum
from datetime import UTC, datetime, timedelta
from typing import Literal, NewType

from attrs import evolve, frozen

from dsl import (
    call,
    command,
    decide,
    fail,
    listen,
    parallel,
    poll,
    process,
    sleep,
    topic,
    until,
    workflow,
)

OrderId = NewType("OrderId", str)


class Carrier(enum.Enum):
    UPS = "ups"
    DHL = "dhl"


@frozen
class Line:
    sku: str
    quantity: int


@frozen
class Order:
    order_id: OrderId
    lines: tuple[Line, ...]
    carrier: Carrier
    placed_at: datetime
    paid: bool = False
    note: str | None = None


@frozen
class Charge:
    order_id: OrderId
    amount_cents: int


@frozen
class Paid:
    order_id: OrderId
    ok: bool


charges = topic("PAYMENT_COMMAND", Charge, key=lambda m: m.order_id)
payments = topic("PAYMENT_LISTENER", Paid, key=lambda m: m.order_id)


def record(o: Order, e: Paid) -> Order:
    return evolve(o, paid=e.ok)


def ship(o: Order) -> Order:
    return o


def speed(o: Order) -> Literal["slow", "fast"]:
    return "slow"


def ship_by(o: Order) -> datetime:
    return o.placed_at + timedelta(days=2)


Orders = (
    workflow("Orders", Order, key=lambda o: o.order_id)
    >> process("PAYMENT", timeout=timedelta(hours=1))
    >> command(charges, lambda o: Charge(o.order_id, 100))
    >> listen(payments, match=lambda o: o.order_id, on=record)
    >> decide(lambda o: o.paid, then=call(ship), otherwise=fail("payment declined"))
    >> process("SHIPPING")
    >> decide(lambda o: o.carrier, branches={Carrier.UPS: call(ship), Carrier.DHL: call(ship)})
    >> decide(speed, branches={"slow": sleep(timedelta(hours=1)), "fast": call(ship)})
    >> parallel(call(ship), until(lambda o: o.placed_at), join="any")
    >> poll(lambda o: o.paid, every=timedelta(seconds=30), deadline=ship_by)
    >> until(lambda o: datetime.now(UTC))
)
