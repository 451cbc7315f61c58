"""The broker is stopped and started again while runs are under way: every run still completes.

Stopping a broker would break every other test using it, so this one runs a broker of its own on
free ports (scripts/kafka.sh `up`, `stop` keeping the data, `start`, `down`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from generated.orders import OrderWorkflow
from runtime import Engine

from .processes import PrivateBroker
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

ORDERS = 200
STOP_AT = 50  # finished runs when the broker stops
OUTAGE_S = 3.0
LONG_OUTAGE_S = 6.0  # several times the short test's request_timeout_ms
START_EVERY_S = 0.02  # starts go on before, during and after the outage


@pytest.fixture
def private_broker() -> Iterator[PrivateBroker]:
    broker = PrivateBroker()
    broker.up()
    try:
        yield broker
    finally:
        broker.down()


async def test_runs_complete_across_a_broker_restart(
    private_broker: PrivateBroker, run_id: str, tmp_path: Path
) -> None:
    await runs_complete_across_an_outage(private_broker, run_id, tmp_path, OUTAGE_S)


async def test_runs_complete_across_an_outage_longer_than_a_send_waits(
    private_broker: PrivateBroker, run_id: str, tmp_path: Path
) -> None:
    """Sends fail while the broker is down (`request_timeout_ms` is short here): the starts
    still return, their commands wait in the outboxes for housekeeping, and the services'
    replies (`engine.send` in a `subscribe` handler) go once the broker is back; nothing is
    dead-lettered, and every run completes."""
    await runs_complete_across_an_outage(
        private_broker,
        run_id,
        tmp_path,
        LONG_OUTAGE_S,
        options="?request_timeout_ms=1000",
        recover_after=2.0,
    )


async def runs_complete_across_an_outage(
    private_broker: PrivateBroker,
    run_id: str,
    tmp_path: Path,
    outage_s: float,
    *,
    options: str = "",
    recover_after: float = 30.0,
) -> None:
    space = Space(private_broker.bootstrap, run_id)
    group = await space.claim(space.group("engine"), ENGINE_TOPICS)
    store = f"sqlite:///{tmp_path / 'orders.db'}"
    url = space.url + options
    async with Engine(
        url, store, workflows=[OrderWorkflow], group=group, recover_after=recover_after
    ) as engine:
        await serve_through_subscribe(engine, space)
        worker = asyncio.create_task(engine.run())

        async def start_all() -> None:
            for order in space.orders(ORDERS):
                await engine.start(OrderWorkflow, order)
                await asyncio.sleep(START_EVERY_S)

        starting = asyncio.create_task(start_all())
        before_stop = await wait_finished(engine, STOP_AT, within=60)
        began = time.monotonic()
        await private_broker.stop()
        await asyncio.sleep(outage_s)
        await private_broker.start()
        outage = time.monotonic() - began
        await starting
        done = await wait_finished(engine, ORDERS, within=120)
        assert not worker.done(), "the engine stopped during the outage"
        engine.shutdown()
        await worker
        found = await records(engine, space, ORDERS)
    assert STOP_AT <= before_stop < ORDERS, "the broker stopped before or after the runs"
    assert done == ORDERS
    wrong = {run.id: p for run in found if (p := problems(run, replies(run.state)))}
    assert wrong == {}
    print(f"broker down for {outage:.1f} s with {before_stop} of {ORDERS} runs finished")


STOP_WITHIN_S = 25.0  # under the 30 s an orchestrator usually waits before SIGKILL


async def test_a_worker_stops_in_time_while_the_broker_is_down_and_loses_nothing(
    private_broker: PrivateBroker, run_id: str, tmp_path: Path
) -> None:
    """Stopping a worker whose steps wait on a broker that is down does not hang: what it held
    stays in outboxes or uncommitted, and a worker started once the broker is back finishes
    every run, each event applied once."""
    space = Space(private_broker.bootstrap, run_id)
    group = await space.claim(space.group("engine"), ENGINE_TOPICS)
    store = f"sqlite:///{tmp_path / 'orders.db'}"
    orders = space.orders(ORDERS)
    async with Engine(space.url, store, workflows=[OrderWorkflow], group=group) as engine:
        await serve_through_subscribe(engine, space)
        worker = asyncio.create_task(engine.run())

        async def start_all() -> None:
            for order in orders:
                await engine.start(OrderWorkflow, order)
                await asyncio.sleep(START_EVERY_S)

        starting = asyncio.create_task(start_all())
        before_stop = await wait_finished(engine, STOP_AT, within=60)
        await private_broker.stop()
        began = time.monotonic()
        engine.shutdown()
        await worker
        starting.cancel()
    stopped_in = time.monotonic() - began
    await private_broker.start()
    async with Engine(space.url, store, workflows=[OrderWorkflow], group=group) as engine:
        await serve_through_subscribe(engine, space, claim=False)
        worker = asyncio.create_task(engine.run())
        for order in orders:  # those not started before the stop (a start is idempotent)
            await engine.start(OrderWorkflow, order)
        done = await wait_finished(engine, ORDERS, within=120)
        engine.shutdown()
        await worker
        found = await records(engine, space, ORDERS)
    assert stopped_in < STOP_WITHIN_S, f"stopping took {stopped_in:.1f} s"
    assert STOP_AT <= before_stop < ORDERS, "the broker stopped before or after the runs"
    assert done == ORDERS
    wrong = {run.id: p for run in found if (p := problems(run, replies(run.state)))}
    assert wrong == {}
    print(f"stopped in {stopped_in:.1f} s with the broker down and {before_stop} runs finished")
