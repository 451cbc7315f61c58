"""Two worker processes share the order workflows in one consumer group over one SQLite file;
one is killed with SIGKILL mid-run and the survivor finishes every run, none applied twice."""

from __future__ import annotations

import asyncio
import collections
import time
from pathlib import Path

from examples.orders import Order
from generated.orders import FULFILLMENT_COMMAND, PAYMENT_COMMAND, OrderWorkflow
from runtime import Engine, Status
from runtime.types import Command

from .processes import workers
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
            starts = [client.start(OrderWorkflow, o) for o in space.orders(ORDERS)]
            starting = asyncio.ensure_future(asyncio.gather(*starts))
            before_kill = await wait_finished(client, KILL_AT, within=60)
            assert before_kill >= KILL_AT, doomed.log() + survivor.log()
            assert doomed.transitions > 0, "the worker to kill did no work" + doomed.log()
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
