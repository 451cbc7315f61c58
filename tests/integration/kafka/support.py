"""What the Kafka end-to-end tests share: a namespace on the shared topics, the simulated payment
and fulfilment services with their ledger, and the checks made on the finished runs."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Sequence

import pytest
from attrs import frozen

from bench.contenders.topics import claim_at_end
from examples.orders import BoxId, BoxPacked, Charge, Fulfil, Order, OrderId, PaymentResult
from generated.orders import (
    FULFILLMENT_COMMAND,
    FULFILLMENT_LISTENER,
    PAYMENT_COMMAND,
    PAYMENT_LISTENER,
    OrderWorkflow,
)
from runtime import Engine, Status, record
from runtime.backends.kafka import KafkaBroker, KafkaConsumer
from runtime.engine_registry import HANDOFF_TOPIC
from runtime.types import MESSAGE_ID_HEADER, Call, Command, Incoming, Instance, Outgoing, Until

BOOTSTRAP_VARIABLE = "DAGGER_KAFKA_BOOTSTRAP"
KAFKA = [
    pytest.mark.kafka,
    pytest.mark.skipif(
        not os.environ.get(BOOTSTRAP_VARIABLE),
        reason="needs Apache Kafka: run `make kafka-up` and set DAGGER_KAFKA_BOOTSTRAP=127.0.0.1:9092",
    ),
]

ENGINE_TOPICS = (PAYMENT_LISTENER.name, FULFILLMENT_LISTENER.name, HANDOFF_TOPIC)
COMMAND_TOPICS = (PAYMENT_COMMAND.name, FULFILLMENT_COMMAND.name)


@frozen
class Space:
    """One test's namespace on the shared topics: its groups and its order ids."""

    bootstrap: str
    run_id: str

    @property
    def url(self) -> str:
        return f"kafka://{self.bootstrap}"

    def group(self, role: str) -> str:
        return f"dagger-test.{self.run_id}.{role}"

    def order_id(self, n: int) -> OrderId:
        return OrderId(f"{self.run_id}-{n:05d}")

    def orders(self, count: int) -> list[Order]:
        now = time.time()
        return [Order(self.order_id(n), 100 + n, "ada", placed_at=now) for n in range(count)]

    def owns(self, key: str) -> bool:
        return key.startswith(f"{self.run_id}-")

    async def claim(self, group: str, topics: Sequence[str]) -> str:
        """Commit the current end of `topics` as `group`'s position, so its members read only
        what is sent from now on (not what other tests left). Returns `group`."""
        return await claim_at_end(self.bootstrap, group, topics)


# --------------------------------------------------------------------------- services


@frozen
class Delivery:
    """One command as a service received it."""

    topic: str
    key: str
    message_id: str


def box_of(order_id: str) -> BoxId:
    """The box the payment service assigns an order: keyed with the order id's prefix, so the
    fulfilment service knows it for one of this test's."""
    return BoxId(f"{order_id}.box")


def reply_id(command_id: str) -> str:
    """The reply to a command has an id derived from the command's: answering a redelivered
    command again sends the same reply, which the engine takes once."""
    return f"reply:{command_id}"


def answer(space: Space, rec: Incoming) -> Outgoing | None:
    """The reply of the payment or fulfilment service to one command of this test's orders."""
    if not space.owns(rec.key):
        return None
    command_id = (rec.header(MESSAGE_ID_HEADER) or b"").decode()
    headers = ((MESSAGE_ID_HEADER, reply_id(command_id).encode()),)
    if rec.topic == PAYMENT_COMMAND.name:
        charge = PAYMENT_COMMAND.decode(rec.value)
        paid = PaymentResult(charge.order_id, True, box_of(charge.order_id))
        return Outgoing(
            PAYMENT_LISTENER.name,
            PAYMENT_LISTENER.key(paid),
            PAYMENT_LISTENER.encode(paid),
            headers,
        )
    fulfil = FULFILLMENT_COMMAND.decode(rec.value)
    packed = BoxPacked(fulfil.box_id, "dhl")
    return Outgoing(
        FULFILLMENT_LISTENER.name,
        FULFILLMENT_LISTENER.key(packed),
        FULFILLMENT_LISTENER.encode(packed),
        headers,
    )


class Services:
    """Payment and fulfilment, as separate systems play them: one consumer group on the command
    topics, each command answered (replies acknowledged before the commit: at least once) and
    written down in `ledger`, redeliveries included."""

    def __init__(self, space: Space) -> None:
        self.space = space
        self.ledger: list[Delivery] = []
        self._broker = KafkaBroker(space.bootstrap, client_id="dagger-test-services")

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Services]:
        group = await self.space.claim(self.space.group("services"), COMMAND_TOPICS)
        await self._broker.start()
        consumer = self._broker.consumer(group, COMMAND_TOPICS)
        await consumer.start()
        task = asyncio.create_task(self._serve(consumer))
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await consumer.close()
            await self._broker.close()

    async def _serve(self, consumer: KafkaConsumer) -> None:
        while True:
            batch = await consumer.fetch(500, 0.2)
            replies = [r for rec in batch if (r := self._note(rec)) is not None]
            if replies:
                await self._broker.send(replies)
            if batch:
                await consumer.commit(batch)

    def _note(self, rec: Incoming) -> Outgoing | None:
        reply = answer(self.space, rec)
        if reply is not None:
            mid = (rec.header(MESSAGE_ID_HEADER) or b"").decode()
            self.ledger.append(Delivery(rec.topic, rec.key, mid))
        return reply


async def serve_through_subscribe(engine: Engine, space: Space, *, claim: bool = True) -> None:
    """Payment approves every charge of this test's orders; fulfilment packs every box. The
    services' groups start at the end of their topics (`claim`), or where an earlier engine of
    this test left them."""

    async def payment(charge: Charge) -> None:
        if space.owns(charge.order_id):
            paid = PaymentResult(charge.order_id, True, box_of(charge.order_id))
            await engine.send(PAYMENT_LISTENER, paid, message_id=f"paid:{charge.order_id}")

    async def fulfilment(fulfil: Fulfil) -> None:
        if space.owns(fulfil.order_id):
            packed = BoxPacked(fulfil.box_id, "dhl")
            await engine.send(FULFILLMENT_LISTENER, packed, message_id=f"packed:{fulfil.box_id}")

    payments, fulfilments = space.group("payment"), space.group("fulfilment")
    if claim:
        await space.claim(payments, [PAYMENT_COMMAND.name])
        await space.claim(fulfilments, [FULFILLMENT_COMMAND.name])
    engine.subscribe(PAYMENT_COMMAND, payment, group=payments)
    engine.subscribe(FULFILLMENT_COMMAND, fulfilment, group=fulfilments)


def replies(order: Order) -> tuple[str, str]:
    """The message ids `serve_through_subscribe` gives its replies to `order`."""
    return f"paid:{order.order_id}", f"packed:{box_of(order.order_id)}"


# --------------------------------------------------------------------------- checks


async def wait_finished(engine: Engine, count: int, within: float) -> int:
    """Poll the store until `count` runs of the order workflow finished; returns how many did."""
    deadline = time.monotonic() + within
    done = 0
    while time.monotonic() < deadline:
        done = await finished(engine)
        if done >= count:
            break
        await asyncio.sleep(0.1)
    return done


async def finished(engine: Engine) -> int:
    total = 0
    for status in (Status.COMPLETED, Status.FAILED, Status.STOPPED):
        total += await counted(engine, status)
    return total


async def counted(engine: Engine, status: Status) -> int:
    n, cursor = 0, None
    while True:
        page = await engine.list(workflow=OrderWorkflow, status=status, limit=1000, cursor=cursor)
        n += len(page.items)
        if page.next is None:
            return n
        cursor = page.next


async def records(engine: Engine, space: Space, count: int) -> list[Instance[Order]]:
    """The stored record of each of this test's runs (with the ids of the events it applied)."""
    found = []
    for n in range(count):
        iid = run_of(space.order_id(n))
        stored = await engine.store.get(iid)
        assert stored is not None, f"order {space.order_id(n)} has no run"
        instance, _outbox = record.decode(OrderWorkflow, stored.data)
        found.append(instance)
    return found


def run_of(order_id: str) -> str:
    return f"{OrderWorkflow.name}:{order_id}"


def command_id(order_id: str, topic: str) -> str:
    """The stable message id of the order's command on `topic` (`instance/node/1`)."""
    node = next(n for n in OrderWorkflow.nodes if isinstance(n, Command) and n.topic.name == topic)
    return f"{run_of(order_id)}/{node.id}/1"


def expected_events(instance: Instance[Order], replies: Sequence[str]) -> list[str]:
    """The events a run that went once through every step applied: the two replies, one
    finished attempt per call that completed and one firing per `until` that completed."""
    events = list(replies)
    for node, run in zip(OrderWorkflow.nodes, instance.nodes, strict=True):
        if run.status is not Status.COMPLETED:
            continue
        if isinstance(node, Call):
            events.append(f"call/{node.id}/1")
        elif isinstance(node, Until):
            events.append(f"timer/until:{node.id}")
    return sorted(events)


def problems(instance: Instance[Order], replies: Sequence[str]) -> list[str]:
    """What is wrong with a run that should have completed, applying each event exactly once.

    The state is checked only where the workflow makes it certain: parallel call branches each
    return a whole state computed from the state they started with, so the last to finish wins
    and `labels`, `packed` and `carrier` depend on timing."""
    o, wrong = instance.state, []
    if instance.status is not Status.COMPLETED:
        wrong.append(f"status {instance.status} ({instance.error})")
    if not (o.paid and o.fraud_checked and o.reserved and o.notified):
        wrong.append(f"state not carried through: {o}")
    if o.box_id != box_of(o.order_id):
        wrong.append(f"payment reply not folded in: box {o.box_id!r}")
    if sorted(instance.applied) != expected_events(instance, replies):
        wrong.append(
            f"applied {sorted(instance.applied)}, expected {expected_events(instance, replies)}"
        )
    pending = [n for n, r in enumerate(instance.nodes) if r.status is Status.EXECUTING]
    if pending:
        wrong.append(f"nodes still executing: {pending}")
    return wrong
