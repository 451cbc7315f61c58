"""Two worker processes share the order workflows in one consumer group over one SQLite file;
one is killed with SIGKILL mid-run and the survivor finishes every run, none applied twice. And a
deploy: each worker in turn stopped with SIGTERM mid-run and replaced, and every run finishes."""

from __future__ import annotations

import asyncio
import collections
import time
from pathlib import Path

from examples.orders import Order
from generated.orders import FULFILLMENT_COMMAND, PAYMENT_COMMAND, OrderWorkflow
from runtime import Engine, Status
from runtime.types import Command

from .processes import Worker, workers
from .support import (
    ENGINE_TOPICS,
    KAFKA,
    Delivery,
    Services,
    Space,
    box_of,
    command_id,
    problems,
    records,
    reply_id,
    run_of,
    wait_finished,
)

pytestmark = KAFKA

ORDERS = 1000
KILL_AT = 250  # finished runs when one worker is killed
WARM_UP_S = 60.0  # for both workers to apply their first events
WARM_UP_STEP = 4  # orders started per quarter second until they have
WARM_UP_MAX = 100
PACE_STEP, PACE_S = 25, 0.05  # then the rest: 25 orders each 50 ms, so 2 s or more


async def test_a_survivor_finishes_every_run_of_a_killed_worker(
    bootstrap: str, run_id: str, tmp_path: Path
) -> None:
    space = Space(bootstrap, run_id)
    group = await space.claim(space.group("engine"), ENGINE_TOPICS)
    store = f"sqlite:///{tmp_path / 'orders.db'}"
    async with (
        Services(space).running() as services,
        Engine(space.url, store, workflows=[OrderWorkflow], group=group) as client,
    ):
        with workers(["a", "b"], tmp_path, bootstrap, store, group) as (doomed, survivor):
            orders = space.orders(ORDERS)
            warmed = await warm_up(client, orders, [doomed, survivor])
            starting = asyncio.ensure_future(paced(client, orders[warmed:]))
            before_kill = await wait_finished(client, KILL_AT, within=60)
            assert before_kill >= KILL_AT, doomed.log() + survivor.log()
            assert doomed.transitions > 0, "the worker to kill did no work" + doomed.log()
            assert before_kill < ORDERS, "every run finished before the kill"
            doomed.kill()
            killed_at = time.monotonic()
            await starting
            done = await wait_finished(client, ORDERS, within=80)
            assert done == ORDERS, f"{done} of {ORDERS} finished\n" + survivor.log()
            took_over = time.monotonic() - killed_at
            assert survivor.stop() == 0, survivor.log()
        found = await records(client, space, ORDERS)
    wrong = {run.id: p for run in found if (p := problems(run, service_replies(run.state)))}
    assert wrong == {}
    assert ledger_problems(services.ledger, space) == []
    sent = sum(
        1
        for run in found
        for node, node_run in zip(OrderWorkflow.nodes, run.nodes, strict=True)
        if isinstance(node, Command) and node_run.status is Status.COMPLETED
    )
    seen = {(d.topic, d.message_id) for d in services.ledger}
    assert len(seen) == sent == 2 * ORDERS  # what the services saw, what the records say
    duplicates = len(services.ledger) - len(seen)
    print(
        f"killed with {before_kill} finished; the survivor finished the rest in {took_over:.1f} s"
    )
    print(f"the services received {duplicates} commands again (same ids)")


async def test_a_rolling_restart_under_load_finishes_every_run(
    bootstrap: str, run_id: str, tmp_path: Path
) -> None:
    """As a deploy does it: while runs start and move, each worker in turn gets SIGTERM (it must
    exit cleanly: in-flight steps finished, offsets committed, the group left) and a new one
    takes its place. Every run finishes, none applied an event twice, and the services saw each
    command under its one id."""
    space = Space(bootstrap, run_id)
    group = await space.claim(space.group("engine"), ENGINE_TOPICS)
    store = f"sqlite:///{tmp_path / 'orders.db'}"
    async with (
        Services(space).running() as services,
        Engine(space.url, store, workflows=[OrderWorkflow], group=group) as client,
    ):
        with workers(["a", "b"], tmp_path, bootstrap, store, group) as first:
            orders = space.orders(ORDERS)
            warmed = await warm_up(client, orders, first)
            starting = asyncio.ensure_future(paced(client, orders[warmed:]))
            replaced: list[Worker] = []
            try:
                for turn, old in enumerate(first):
                    reached = await wait_finished(client, KILL_AT * (turn + 1), within=60)
                    assert reached < ORDERS, "every run finished before the restart"
                    assert old.stop() == 0, old.log()
                    replaced.append(Worker(f"{old.name}2", tmp_path, bootstrap, store, group))
                await starting
                done = await wait_finished(client, ORDERS, within=80)
                logs = "".join(w.log() for w in replaced)
                assert done == ORDERS, f"{done} of {ORDERS} finished\n{logs}"
                for w in replaced:
                    assert w.stop() == 0, w.log()
            finally:
                for w in replaced:
                    if w.alive():
                        w.kill()
        found = await records(client, space, ORDERS)
    wrong = {run.id: p for run in found if (p := problems(run, service_replies(run.state)))}
    assert wrong == {}
    assert ledger_problems(services.ledger, space) == []


async def warm_up(client: Engine, orders: list[Order], members: list[Worker]) -> int:
    """Start orders a few at a time until every worker has applied some (each has joined the
    group and owns partitions), so the burst that follows is shared; returns how many started.
    A worker starts in a second or two, and without this the first to join could finish the
    first KILL_AT runs alone."""
    deadline = time.monotonic() + WARM_UP_S
    started = 0
    while not all(w.transitions > 0 for w in members):
        if time.monotonic() > deadline:
            logs = "".join(w.log() for w in members)
            raise AssertionError(f"a worker did no work in {WARM_UP_S} s\n{logs}")
        if started < WARM_UP_MAX:
            batch = orders[started : started + WARM_UP_STEP]
            await asyncio.gather(*(client.start(OrderWorkflow, o) for o in batch))
            started += len(batch)
        await asyncio.sleep(0.25)
    return started


async def paced(client: Engine, orders: list[Order]) -> None:
    """Start the orders PACE_STEP at a time: the kill falls while runs are still starting."""
    for at in range(0, len(orders), PACE_STEP):
        await asyncio.gather(*(client.start(OrderWorkflow, o) for o in orders[at : at + PACE_STEP]))
        await asyncio.sleep(PACE_S)


def service_replies(order: Order) -> tuple[str, str]:
    order_id = str(order.order_id)
    return (
        reply_id(command_id(order_id, PAYMENT_COMMAND.name)),
        reply_id(command_id(order_id, FULFILLMENT_COMMAND.name)),
    )


def ledger_problems(ledger: list[Delivery], space: Space) -> list[str]:
    """Each order's two commands reached the services under their one stable id each (redelivery
    of that id is at least once, and allowed); no other command for this test's orders."""
    ids: dict[tuple[str, str], set[str]] = collections.defaultdict(set)
    for d in ledger:
        ids[(d.topic, d.key)].add(d.message_id)
    wrong = []
    for n in range(ORDERS):
        order = space.order_id(n)
        box = box_of(order)
        for topic, key in ((PAYMENT_COMMAND.name, order), (FULFILLMENT_COMMAND.name, box)):
            want = {command_id(order, topic)}
            got = ids.pop((topic, key), set())
            if got != want:
                wrong.append(f"{run_of(order)}: {topic} ids {sorted(got)}, want {want}")
    wrong += [f"unexpected commands {k}: {v}" for k, v in ids.items()]
    return wrong
