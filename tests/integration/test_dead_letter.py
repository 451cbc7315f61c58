"""1,000 random byte strings on a listener topic, among real replies: every one of them lands in
`<topic>.dead-letter` with its bytes and reason, and the workflows in flight still complete."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import pytest
from order_services import services

from examples.orders import Order, OrderId
from generated.orders import OrderWorkflow
from runtime import Engine, Status
from runtime.types import MESSAGE_ID_HEADER, Incoming, Outgoing

GARBAGE = 1000
ORDERS = 100


@pytest.mark.slow
async def test_random_bytes_are_dead_lettered_and_the_workflows_complete(tmp_path: Path) -> None:
    rng = random.Random(7)
    garbage = [rng.randbytes(rng.randrange(0, 300)) for _ in range(GARBAGE)]
    placed_at = time.time() - 3600
    async with Engine(f"sqlite:///{tmp_path / 'dlq.db'}", workflows=[OrderWorkflow]) as engine:
        services(engine)
        runs = await asyncio.gather(
            *(
                engine.start(OrderWorkflow, Order(OrderId(f"d-{i}"), 100, "c", placed_at=placed_at))
                for i in range(ORDERS)
            )
        )
        for i in range(0, GARBAGE, 100):  # in batches, between the real replies
            chunk = garbage[i : i + 100]
            await engine.broker.send(
                [
                    Outgoing("PAYMENT_LISTENER", f"k{i + j}", value, ())
                    for j, value in enumerate(chunk)
                ]
            )
            await engine.run(until_idle=True, max_wait=0)
        statuses = [await engine.status(r.id) for r in runs]
        dead = await read_all(engine, "PAYMENT_LISTENER.dead-letter", GARBAGE)
    assert all(s is not None and s.status is Status.COMPLETED for s in statuses)
    assert [d.value for d in dead] == garbage
    sources = {(d.header("dagger-source-topic"), d.header("dagger-source-partition")) for d in dead}
    assert sources == {(b"PAYMENT_LISTENER", b"0")}
    offsets = [int(d.header("dagger-source-offset") or b"-1") for d in dead]
    assert offsets == sorted(offsets) and len(set(offsets)) == GARBAGE
    assert all(
        (d.header("dagger-error") or b"").startswith(b"cannot decode a PAYMENT_LISTENER")
        for d in dead
    )
    assert all(
        d.header(MESSAGE_ID_HEADER) == f"PAYMENT_LISTENER/0/{o}".encode()
        for d, o in zip(dead, offsets, strict=True)
    )


async def read_all(engine: Engine, topic: str, want: int) -> list[Incoming]:
    consumer = engine.broker.consumer("test-reader", [topic])
    await consumer.start()
    got: list[Incoming] = []
    try:
        for _ in range(100):
            got += await consumer.fetch(want - len(got), 0.1)
            if len(got) >= want:
                break
        got += await consumer.fetch(10, 0.1)  # nothing more than the garbage
    finally:
        await consumer.close()
    return got
