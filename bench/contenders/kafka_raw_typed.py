"""`kafka_raw_outbox` with what any engine for typed workflows adds on top, still written by hand:
messages decoded and encoded by the codecs daggerc generates for bench/workloads/orders2.py (attrs
classes, checked field by field), the state kept as an attrs `Order` and encoded by its generated
codec each step, and a message-id header on every message sent. No machine, no node runs, no
index: held against `outbox`, it says what typing costs; held against dagger, what the general
engine does beyond it.

    bench.kafka --only raw,outbox,typed,orders2
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import orjson
from attrs import evolve

from bench.contenders.kafka_raw_outbox import OutboxEcho
from bench.workloads.orders2 import Order, OrderId, PaymentResult, Ship, Shipped

_ID = "dagger-id"


class TypedOutboxEcho(OutboxEcho):
    """`OutboxEcho` over the generated codecs of Orders2, with a message id on each message."""

    def __init__(self, bootstrap: str, run: str, path: Path) -> None:
        super().__init__(bootstrap, run, path)
        self.gen: Any = importlib.import_module("bench.generated.orders2")
        self.orders: dict[str, Order] = {}
        self.owed: dict[str, bytes] = {}  # the command each reaction stored, to send

    def _first_state(self, order: str) -> bytes:
        state = self.orders[order] = Order(OrderId(order), 1250)
        return orjson.dumps(self.gen.encode_order(state))

    def _step(self, record: Any, order: str) -> tuple[bytes, bytes | None]:
        g, state = self.gen, self.orders[order]
        outbox = None
        if record.topic == self.topics.payment_listener:
            paid = g.BENCH_PAYMENT_LISTENER.decode(record.value)
            state = evolve(state, paid=paid.ok)
            ship = Ship(state.order_id, "1 Main St")
            outbox = self.owed[order] = g.BENCH_SHIPPING_COMMAND.encode(ship)
        else:
            shipped = g.BENCH_SHIPPING_LISTENER.decode(record.value)
            state = evolve(state, tracking=shipped.tracking)
        self.orders[order] = state
        return orjson.dumps(g.encode_order(state)), outbox

    async def _serve(self, record: Any, done: list[str]) -> Awaitable[Any]:
        g = self.gen
        if record.topic == self.topics.payment_command:
            charge = g.BENCH_PAYMENT_COMMAND.decode(record.value)
            self.tracker.payment_replied(charge.order_id)
            reply = g.BENCH_PAYMENT_LISTENER.encode(PaymentResult(charge.order_id, ok=True))
            return await self._typed(self.topics.payment_listener, charge.order_id, reply, "pay")
        ship = g.BENCH_SHIPPING_COMMAND.decode(record.value)
        self.tracker.shipping_requested(ship.order_id)
        reply = g.BENCH_SHIPPING_LISTENER.encode(Shipped(ship.order_id, f"T-{ship.order_id}"))
        return await self._typed(self.topics.shipping_listener, ship.order_id, reply, "ship")

    async def _react(self, record: Any, done: list[str]) -> Awaitable[Any] | None:
        order = record.key.decode()
        if record.topic == self.topics.payment_listener:
            command = self.owed.pop(order)
            return await self._typed(self.topics.shipping_command, order, command, order)
        done.append(order)
        return None

    async def _typed(self, topic: str, key: str, value: bytes, mid: str) -> Awaitable[Any]:
        headers = [(_ID, f"{mid}/{key}/{topic}".encode())]
        future: Awaitable[Any] = await self.producer.send(
            topic, value=value, key=key.encode(), headers=headers
        )
        return future
