"""The order example's side of `bench.kafka`: bursts of OrderWorkflow on one engine, its payment
and fulfilment services answering only this run's orders (the example's topics are shared with
the tests, so every group starts at the current end of its topics)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from bench.contenders.common import Figures, Tracker
from bench.contenders.topics import claim_at_end
from examples.orders import BoxId, BoxPacked, Charge, Fulfil, Order, OrderId, PaymentResult
from generated.orders import (
    FULFILLMENT_COMMAND,
    FULFILLMENT_LISTENER,
    PAYMENT_COMMAND,
    PAYMENT_LISTENER,
    OrderWorkflow,
)
from runtime import Engine, Status
from runtime.ops.hooks import BaseObserver

BURST_TIMEOUT_S = 600.0


class Completions(BaseObserver):
    """Tells the burst's tracker when an order workflow completes."""

    def __init__(self) -> None:
        self.tracker = Tracker("idle", 0)

    def on_status(self, instance_id: str, workflow: str, status: Status) -> None:
        if status is Status.COMPLETED and workflow == OrderWorkflow.name:
            self.tracker.completed(instance_id.partition(":")[2])


class ExampleBench:
    """Bursts of the order example; payment and fulfilment answer this run's commands."""

    def __init__(self, engine: Engine, seen: Completions, run: str) -> None:
        self.engine = engine
        self.seen = seen
        self.run = run

    async def services(self) -> None:
        engine, prefix = self.engine, f"example{self.run}."

        async def payment(charge: Charge) -> None:
            if charge.order_id.startswith(prefix):
                self.seen.tracker.payment_replied(charge.order_id)
                paid = PaymentResult(charge.order_id, True, BoxId(f"{charge.order_id}.box"))
                await engine.send(PAYMENT_LISTENER, paid, message_id=f"paid:{charge.order_id}")

        async def fulfilment(fulfil: Fulfil) -> None:
            if fulfil.order_id.startswith(prefix):
                self.seen.tracker.shipping_requested(fulfil.order_id)
                packed = BoxPacked(fulfil.box_id, "dhl")
                await engine.send(
                    FULFILLMENT_LISTENER, packed, message_id=f"packed:{fulfil.box_id}"
                )

        payments = f"bench.{self.run}.payment"
        fulfilments = f"bench.{self.run}.fulfilment"
        engine.subscribe(
            PAYMENT_COMMAND, payment, group=await at_end(engine, payments, [PAYMENT_COMMAND.name])
        )
        engine.subscribe(
            FULFILLMENT_COMMAND,
            fulfilment,
            group=await at_end(engine, fulfilments, [FULFILLMENT_COMMAND.name]),
        )

    async def burst(self, phase: str, n: int) -> Figures:
        tracker = self.seen.tracker = Tracker(phase, n)
        now = time.time()
        orders = [Order(OrderId(o), 1250, "bench", placed_at=now) for o in tracker.order_ids()]
        tracker.start_clock()
        await asyncio.gather(*(self.engine.start(OrderWorkflow, o) for o in orders))
        await tracker.wait(BURST_TIMEOUT_S)
        return tracker.figures()


async def at_end(engine: Engine, group: str, topics: Sequence[str]) -> str:
    """Position `group` at the current end of `topics`, so it reads nothing sent before."""
    return await claim_at_end(engine.url.removeprefix("kafka://"), group, topics)
