"""State and message fields whose types the generated codecs cannot encode."""

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from attrs import frozen

from dsl import command, process, topic, workflow


@frozen
class Item:
    sku: str
    size: tuple[int, int]
    prices: set[Decimal]
    weight: float | None = None


@frozen
class Order:
    order_id: str
    items: list[Item]
    prices: dict[int, Decimal]
    code: int | str
    extra: Any
    notes: list
    wait: timedelta
    tags: frozenset[str]


@frozen
class Notice:
    order_id: str
    callback: Callable[[str], None]


notices = topic("NOTICES", Notice, key=lambda m: m.order_id)

Orders = (
    workflow("Orders", Order, key=lambda o: o.order_id)
    >> process("NOTIFY")
    >> command(notices, lambda o: Notice(o.order_id, print))
)
