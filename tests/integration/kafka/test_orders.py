"""The order example over Kafka, end to end: an Engine on `kafka://` with a SQLite store, the
payment and fulfilment services played through `engine.subscribe`."""

from __future__ import annotations

import asyncio
from pathlib import Path

from examples.orders import BoxPacked, Charge, Fulfil, Order, PaymentResult
from generated.orders import (
    FULFILLMENT_COMMAND,
    FULFILLMENT_LISTENER,
    PAYMENT_COMMAND,
    PAYMENT_LISTENER,
    OrderWorkflow,
)
from runtime import Engine

from .support import ENGINE_TOPICS, KAFKA, Space, box_of, problems, records, wait_finished

pytestmark = KAFKA

ORDERS = 60


async def serve_through_subscribe(engine: Engine, space: Space) -> None:
    """Payment approves every charge of this test's orders; fulfilment packs every box."""

    async def payment(charge: Charge) -> None:
        if space.owns(charge.order_id):
            paid = PaymentResult(charge.order_id, True, box_of(charge.order_id))
            await engine.send(PAYMENT_LISTENER, paid, message_id=f"paid:{charge.order_id}")

    async def fulfilment(fulfil: Fulfil) -> None:
        if space.owns(fulfil.order_id):
            packed = BoxPacked(fulfil.box_id, "dhl")
            await engine.send(FULFILLMENT_LISTENER, packed, message_id=f"packed:{fulfil.box_id}")

    payments = await space.claim(space.group("payment"), [PAYMENT_COMMAND.name])
    fulfilments = await space.claim(space.group("fulfilment"), [FULFILLMENT_COMMAND.name])
    engine.subscribe(PAYMENT_COMMAND, payment, group=payments)
    engine.subscribe(FULFILLMENT_COMMAND, fulfilment, group=fulfilments)


async def test_every_order_completes_over_kafka(
    bootstrap: str, run_id: str, tmp_path: Path
) -> None:
    space = Space(bootstrap, run_id)
    group = await space.claim(space.group("engine"), ENGINE_TOPICS)
    store = f"sqlite:///{tmp_path / 'orders.db'}"
    async with Engine(space.url, store, workflows=[OrderWorkflow], group=group) as engine:
        await serve_through_subscribe(engine, space)
        worker = asyncio.create_task(engine.run())
        runs = [await engine.start(OrderWorkflow, order) for order in space.orders(ORDERS)]
        assert all(run.created for run in runs)
        done = await wait_finished(engine, ORDERS, within=60)
        engine.shutdown()
        await worker
        found = await records(engine, space, ORDERS)
    assert done == ORDERS
    wrong = {run.id: p for run in found if (p := problems(run, replies(run.state)))}
    assert wrong == {}


def replies(order: Order) -> tuple[str, str]:
    """The message ids `serve_through_subscribe` gives its replies to this order."""
    return f"paid:{order.order_id}", f"packed:{box_of(order.order_id)}"
