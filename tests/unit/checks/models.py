"""State and message types shared by the check tests (module level, as in a DSL file)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import NewType

from attrs import frozen

OrderId = NewType("OrderId", str)
BoxId = NewType("BoxId", str)


class Status(enum.Enum):
    NEW = "new"
    PAID = "paid"


@frozen
class Address:
    city: str


@frozen
class Order:
    order_id: OrderId
    box_id: BoxId
    status: Status = Status.NEW
    paid: bool = False
    placed_at: datetime | None = None
    address: Address = Address("Berlin")


@frozen
class Paid:
    order_id: OrderId
    ok: bool


@frozen
class Other:
    name: str


def keep(o: Order) -> Order:
    return o


def order_key(o: Order) -> OrderId:
    return o.order_id
