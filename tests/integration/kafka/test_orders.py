"""The order example over Kafka, end to end: an Engine on `kafka://` with a SQLite store, the
payment and fulfilment services played through `engine.subscribe`; and malformed messages on
a listener topic, which go to its dead-letter topic while the runs go on."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from examples.orders import Order
from generated.orders import PAYMENT_LISTENER, OrderWorkflow
from runtime import Engine
from runtime.engine_loop import ERROR_HEADER, SOURCE_TOPIC_HEADER
from runtime.types import MESSAGE_ID_HEADER, Consumer, Incoming, Instance, Outgoing

from .support import (
    ENGINE_TOPICS,
    KAFKA,
    Space,
    problems,
    records,
    replies,
    serve_through_subscribe,
    wait_finished,
)

pytestmark = KAFKA

ORDERS = 60


async def run_orders(space: Space, folder: Path, count: int) -> list[Instance[Order]]:
    """`count` orders through an engine on `kafka://` with a SQLite store; their records."""
    group = await space.claim(space.group("engine"), ENGINE_TOPICS)
    store = f"sqlite:///{folder / 'orders.db'}"
    async with Engine(space.url, store, workflows=[OrderWorkflow], group=group) as engine:
        await serve_through_subscribe(engine, space)
        worker = asyncio.create_task(engine.run())
        runs = [await engine.start(OrderWorkflow, order) for order in space.orders(count)]
        assert all(run.created for run in runs)
        done = await wait_finished(engine, count, within=60)
        engine.shutdown()
        await worker
        assert done == count
        return await records(engine, space, count)


async def test_every_order_completes_over_kafka(
    bootstrap: str, run_id: str, tmp_path: Path
) -> None:
    found = await run_orders(Space(bootstrap, run_id), tmp_path, ORDERS)
    wrong = {run.id: p for run in found if (p := problems(run, replies(run.state)))}
    assert wrong == {}


async def test_parallel_branches_keep_each_others_updates(
    bootstrap: str, run_id: str, tmp_path: Path
) -> None:
    found = await run_orders(Space(bootstrap, run_id), tmp_path, 10)
    # add_label runs once beside the fulfilment listener, once beside three other calls
    assert {run.state.labels for run in found} == {2}
    assert {(run.state.pickup_booked, run.state.notified) for run in found} == {(True, True)}
    assert {(run.state.packed, run.state.carrier) for run in found} == {(True, "dhl")}


MALFORMED = (
    b"not json at all",
    b'{"order_id": 7, "ok": true, "box_id": "b"}',  # order_id is not a string
    b'{"order_id": "x", "ok": true}',  # box_id missing
    b"\xff\xfe\x00",
)
JUNK_EVERY = 15  # every 15th order gets the malformed messages above, keyed by its id
JUNKED = len(range(0, ORDERS, JUNK_EVERY))


async def test_malformed_messages_go_to_the_dead_letter_topic_and_runs_go_on(
    bootstrap: str, run_id: str, tmp_path: Path
) -> None:
    space = Space(bootstrap, run_id)
    group = await space.claim(space.group("engine"), ENGINE_TOPICS)
    dead = f"{PAYMENT_LISTENER.name}.dead-letter"
    watcher = await space.claim(space.group("dead-letters"), [dead])
    store = f"sqlite:///{tmp_path / 'orders.db'}"
    async with Engine(space.url, store, workflows=[OrderWorkflow], group=group) as engine:
        await serve_through_subscribe(engine, space)
        worker = asyncio.create_task(engine.run())
        orders = space.orders(ORDERS)
        for order in orders:
            await engine.start(OrderWorkflow, order)
            if int(order.order_id[-5:]) % JUNK_EVERY == 0:  # keyed by an order, among its replies
                await engine.broker.send(junk(order.order_id))
        done = await wait_finished(engine, ORDERS, within=60)
        letters = await drain(engine.broker.consumer(watcher, [dead]), JUNKED * len(MALFORMED))
        engine.shutdown()
        await worker
        found = await records(engine, space, ORDERS)
    assert done == ORDERS
    wrong = {run.id: p for run in found if (p := problems(run, replies(run.state)))}
    assert wrong == {}
    assert sorted(r.value for r in letters) == sorted(MALFORMED * JUNKED)
    for letter in letters:
        reason = (letter.header(ERROR_HEADER) or b"").decode()
        assert reason.startswith(f"cannot decode a {PAYMENT_LISTENER.name} message"), reason
        assert letter.header(SOURCE_TOPIC_HEADER) == PAYMENT_LISTENER.name.encode()
        assert space.owns(letter.key)
    reasons = {(r.header(ERROR_HEADER) or b"").decode() for r in letters}
    assert len(reasons) >= 3, f"each malformation named apart: {reasons}"


def junk(key: str) -> list[Outgoing]:
    return [
        Outgoing(
            PAYMENT_LISTENER.name, key, value, ((MESSAGE_ID_HEADER, f"junk:{key}:{n}".encode()),)
        )
        for n, value in enumerate(MALFORMED)
    ]


async def drain(consumer: Consumer, count: int, within: float = 30.0) -> list[Incoming]:
    """`count` records of this test from `consumer` (failing past `within` seconds)."""
    await consumer.start()
    found: list[Incoming] = []
    deadline = time.monotonic() + within
    try:
        while len(found) < count:
            assert time.monotonic() < deadline, f"got {len(found)} of {count} dead letters"
            found += await consumer.fetch(count, 0.5)
    finally:
        await consumer.close()
    return found
