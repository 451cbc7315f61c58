"""Codecs: every supported field type, nested classes, defaults and factories, in state and messages."""

import enum
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Literal, NewType
from uuid import UUID

from attrs import Factory, field, frozen

from dsl import command, process, topic, workflow

Sku = NewType("Sku", str)
Cents = NewType("Cents", int)


class Channel(enum.Enum):
    WEB = "web"
    SHOP = "shop"


class Priority(enum.IntEnum):
    LOW = 1
    HIGH = 2


@frozen
class Address:
    street: str
    city: str
    zip_code: str | None = None


@frozen
class Line:
    sku: Sku
    quantity: int
    price: Decimal


@frozen
class Cart:
    cart_id: UUID
    created: datetime
    ship_on: date
    hold: timedelta
    channel: Channel
    priority: Priority
    lines: list[Line]
    address: Address
    photo: bytes
    total: Cents
    weight_kg: float
    gift: bool
    status: Literal["open", "closed"] = "open"
    tags: frozenset[str] = frozenset()
    notes: tuple[str, ...] = ()
    attributes: dict[str, int] = Factory(dict)
    by_sku: dict[Sku, list[int]] = Factory(dict)
    coupon: Decimal | None = None
    billing: Address | None = None
    _secret: str = field(default="", alias="secret")


@frozen
class CartClosed:
    cart_id: UUID
    lines: tuple[Line, ...]
    channel: Channel = Channel.WEB


closed = topic("CART_CLOSED", CartClosed, key=lambda m: str(m.cart_id))

Carts = (
    workflow("Carts", Cart, key=lambda c: str(c.cart_id))
    >> process("CLOSE")
    >> command(closed, lambda c: CartClosed(c.cart_id, tuple(c.lines), c.channel))
)
