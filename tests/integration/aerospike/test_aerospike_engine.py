"""The Engine on the Aerospike store: what one transition costs in server round trips, and the
order example end to end over Kafka + Aerospike."""

from __future__ import annotations

import asyncio
import collections
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aerospike_support import kafka_bootstrap
from attrs import evolve, frozen

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
from runtime.backends.aerospike import AerospikeStore
from runtime.engine_registry import HANDOFF_TOPIC
from runtime.types import (
    JSON,
    Command,
    CompiledWorkflow,
    Listen,
    Process,
    RecordRefused,
    Sequence_,
    TopicSpec,
)

pytestmark = pytest.mark.aerospike

# ------------------------------------------------------------------ a command + listen workflow


@frozen
class Ticket:
    key: str
    reply: str = ""


@frozen
class Note:
    key: str
    text: str = ""


def _decode_note(data: bytes) -> Note:
    doc = json.loads(data)
    return Note(str(doc["key"]), str(doc["text"]))


def _topic(name: str) -> TopicSpec[Note]:
    return TopicSpec(
        name,
        key=lambda n: n.key,
        encode=lambda n: json.dumps({"key": n.key, "text": n.text}).encode(),
        decode=_decode_note,
    )


def _decode_ticket(doc: JSON) -> Ticket:
    assert isinstance(doc, dict)
    return Ticket(str(doc["key"]), str(doc["reply"]))


ASK, ANSWER = _topic("dgt.ask"), _topic("dgt.answer")
_LISTEN: Listen[Ticket, Note] = Listen(
    id=3,
    name="answer",
    parent=1,
    topic=ANSWER,
    match=lambda t: t.key,
    on=lambda t, n: evolve(t, reply=n.text),
)
PING: CompiledWorkflow[Ticket] = CompiledWorkflow(
    name="Ping",
    version="v1",
    source="tests/integration/aerospike:Ping",
    state_type=Ticket,
    key=lambda t: t.key,
    encode_state=lambda t: {"key": t.key, "reply": t.reply},
    decode_state=_decode_ticket,
    nodes=(
        Sequence_(id=0, name="Ping", parent=-1, children=(1,)),
        Process(id=1, name="ASK", parent=0, children=(2, 3)),
        Command(id=2, name="ask", parent=1, topic=ASK, build=lambda t: Note(t.key)),
        _LISTEN,
    ),
    topics=(ASK, ANSWER),
)

PING_BY_KEY = evolve(PING, name="PingByKey", nodes=(*PING.nodes[:3], evolve(_LISTEN, by_key=True)))
"""PING whose listener matches on the workflow's key, as daggerc marks it: found by its run's
id, in no secondary index."""

# What the engine's background loops call (timers, idle checks, outbox sweeps, retention), apart
# from the path of one transition.
BACKGROUND = frozenset({"next_due", "due_timers", "with_outbox", "purge"})
PORT = [
    "get",
    "put",
    "put_indexed",
    "get_many",
    "waiters_many",
    "put_many",
    "clear_many",
    "list",
    "with_outbox",
    "add_wait",
    "remove_wait",
    "waiters",
    "add_timer",
    "remove_timer",
    "due_timers",
    "next_due",
    "add_early",
    "take_early",
    "remove_early",
    "purge",
]


def count_calls(store: AerospikeStore) -> collections.Counter[str]:
    """Counts every Store call the engine makes, by method (each is one round trip unless a
    transient failure was retried; `store.round_trips` counts those too)."""
    calls: collections.Counter[str] = collections.Counter()
    for name in PORT:
        method: Callable[..., Awaitable[Any]] = getattr(store, name)

        async def counted(*args: Any, _m: Any = method, _n: str = name) -> Any:
            calls[_n] += 1
            return await _m(*args)

        setattr(store, name, counted)
    return calls


async def answered(engine: Engine, wf: CompiledWorkflow[Ticket], runs: int, prefix: str) -> None:
    """`runs` runs of `wf` started one at a time, every ask answered by a service, until idle."""

    async def answer(n: Note) -> None:
        await engine.send(ANSWER, Note(n.key, f"ok:{n.key}"))

    engine.subscribe(ASK, answer)
    for i in range(runs):
        await engine.start(wf, Ticket(f"{prefix}{i:04d}"))
    await engine.run(until_idle=True)


async def test_round_trips_per_transition_of_command_and_listen(aerospike_url: str) -> None:
    runs = 200
    async with Engine("memory://", aerospike_url, workflows=[PING]) as engine:
        store = engine.store
        assert isinstance(store, AerospikeStore)
        calls, trips = count_calls(store), store.round_trips
        began = time.perf_counter()
        await answered(engine, PING, runs, "t")
        seconds = time.perf_counter() - began
        trips, calls = store.round_trips - trips, calls.copy()
        done = await engine.list(workflow=PING, status=Status.COMPLETED, limit=runs + 1)
    assert len(done.items) == runs
    transitions = 2 * runs  # the start (command, then listen) and the answer (complete)
    path = {k: v for k, v in calls.items() if k not in BACKGROUND}
    # waiters_many asks the secondary index once per (topic, key): a round trip each
    per = (sum(path.values()) - path["waiters_many"] + runs) / transitions
    print(
        f"\n  {runs} runs of command+listen, {transitions} transitions in {seconds:.2f} s:"
        f" {per:.2f} store round trips per transition on the common path"
        f" ({', '.join(f'{k} {v / transitions:.2f}' for k, v in sorted(path.items()))});"
        f" background {sum(calls[k] for k in BACKGROUND)}"
        f" ({', '.join(f'{k} {calls[k]}' for k in sorted(BACKGROUND) if calls[k])});"
        f" {trips} round trips in all"
    )
    # Each start (made one at a time here) writes the record with its wait (create-only: nothing
    # read first), sends, then clears the outbox by its flag and reads what is kept for the new
    # wait in one batch. The answers are fetched together: each fetched batch of them looks up
    # the waiters of all its messages at once (a query per message), reads its records
    # in one batch read and writes them (wait removed, no outbox to clear) in one batch write.
    batches = path["get_many"]
    assert path == {
        "put_many": runs + batches,
        "clear_many": runs,
        "get_many": batches,
        "waiters_many": batches,
    }
    assert batches <= runs // 4
    assert per <= 1.75


@pytest.mark.parametrize("runs", [1, 4], ids=["alone", "in_a_batch"])
async def test_a_state_too_big_for_the_namespace_fails_its_run_only(
    aerospike_url: str, runs: int
) -> None:
    """Aerospike refuses a record over the namespace's max-record-size, for good: the run ends
    FAILED with the state it had and why, and the engine goes on (it stopped on the error, and
    the redelivered message stopped it again)."""
    async with Engine("memory://", aerospike_url, workflows=[PING]) as engine:
        started = [await engine.start(PING, Ticket(f"r{i}")) for i in range(runs)]
        for i in range(runs):
            await engine.send(ANSWER, Note(f"r{i}", "x" * 9_000_000 if i == 0 else "fine"))
        await engine.run(until_idle=True)
        big, *rest = [await engine.status(r.id) for r in started]
    assert big is not None and big.status is Status.FAILED and big.state == Ticket("r0")
    assert big.error is not None and "exceeds max-record-size" in big.error, big.error
    assert [(s.status, s.state.reply) for s in rest if s] == [(Status.COMPLETED, "fine")] * (
        runs - 1
    )


async def test_a_start_too_big_for_the_namespace_is_refused(aerospike_url: str) -> None:
    async with Engine("memory://", aerospike_url, workflows=[PING]) as engine:
        with pytest.raises(RecordRefused, match="exceeds max-record-size"):
            await engine.start(PING, Ticket("big", reply="x" * 9_000_000))
        assert await engine.status("Ping:big") is None
        assert (await engine.start(PING, Ticket("small"))).created


async def test_a_by_key_listener_costs_no_index_query(aerospike_url: str) -> None:
    """The answers' batches read their runs once (that read routes them and feeds the step) and
    ask the secondary index nothing; the start writes no wait into it either."""
    runs = 200
    async with Engine("memory://", aerospike_url, workflows=[PING_BY_KEY]) as engine:
        store = engine.store
        assert isinstance(store, AerospikeStore)
        calls = count_calls(store)
        await answered(engine, PING_BY_KEY, runs, "b")
        calls = calls.copy()
        done = await engine.list(workflow=PING_BY_KEY, status=Status.COMPLETED, limit=runs + 1)
        indexed = await store.waiters(ANSWER.name, "b0000")
    assert len(done.items) == runs
    assert all(item.status == Status.COMPLETED.value for item in done.items)
    path = {k: v for k, v in calls.items() if k not in BACKGROUND}
    batches = path["get_many"]
    assert path == {"put_many": runs + batches, "clear_many": runs, "get_many": batches}
    assert batches <= runs // 4
    assert list(indexed) == []


# ------------------------------------------------------------------ the order example


@frozen
class Orders:
    """One test's orders: ids with a prefix of its own, so the services answer only these."""

    run: str

    def id(self, n: int) -> OrderId:
        return OrderId(f"{self.run}-{n:03d}")

    def owns(self, order_id: str) -> bool:
        return order_id.startswith(f"{self.run}-")


async def play_services(engine: Engine, orders: Orders, groups: dict[str, str]) -> None:
    """Payment approves every charge of these orders; fulfilment packs every box."""

    async def payment(charge: Charge) -> None:
        if orders.owns(charge.order_id):
            paid = PaymentResult(charge.order_id, True, BoxId(f"{charge.order_id}.box"))
            await engine.send(PAYMENT_LISTENER, paid, message_id=f"paid:{charge.order_id}")

    async def fulfilment(fulfil: Fulfil) -> None:
        if orders.owns(fulfil.order_id):
            packed = BoxPacked(fulfil.box_id, "dhl")
            await engine.send(FULFILLMENT_LISTENER, packed, message_id=f"packed:{fulfil.box_id}")

    engine.subscribe(PAYMENT_COMMAND, payment, group=groups["payment"])
    engine.subscribe(FULFILLMENT_COMMAND, fulfilment, group=groups["fulfilment"])


async def finished(engine: Engine, ids: list[str], within: float) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        statuses = {i: await engine.status(i) for i in ids}
        if all(s is not None and s.status.finished for s in statuses.values()):
            return statuses
        if time.monotonic() > deadline:
            stuck = [i for i, s in statuses.items() if s is None or not s.status.finished]
            raise AssertionError(f"{len(stuck)} orders unfinished after {within} s: {stuck[:5]}")
        await asyncio.sleep(0.25)


@pytest.mark.kafka
async def test_the_order_example_over_kafka_and_aerospike(aerospike_url: str) -> None:
    bootstrap = kafka_bootstrap()
    orders = Orders(f"dgt{time.time_ns() % 10**10:x}")
    groups = {
        role: f"dagger-test.{orders.run}.{role}" for role in ("engine", "payment", "fulfilment")
    }
    count, now = 20, time.time()
    async with Engine(
        f"kafka://{bootstrap}", aerospike_url, workflows=[OrderWorkflow], group=groups["engine"]
    ) as engine:
        await claim_at_end(
            bootstrap,
            groups["engine"],
            [PAYMENT_LISTENER.name, FULFILLMENT_LISTENER.name, HANDOFF_TOPIC],
        )
        await claim_at_end(bootstrap, groups["payment"], [PAYMENT_COMMAND.name])
        await claim_at_end(bootstrap, groups["fulfilment"], [FULFILLMENT_COMMAND.name])
        await play_services(engine, orders, groups)
        worker = asyncio.create_task(engine.run())
        began = time.perf_counter()
        ids = [
            (
                await engine.start(
                    OrderWorkflow, Order(orders.id(n), 100 + n, "ada", placed_at=now)
                )
            ).id
            for n in range(count)
        ]
        statuses = await finished(engine, ids, within=90.0)
        seconds = time.perf_counter() - began
        store = engine.store
        assert isinstance(store, AerospikeStore)
        left_waiting = [
            await store.waiters(PAYMENT_LISTENER.name, orders.id(n)) for n in range(count)
        ]
        pending = await store.with_outbox(100)
        engine.shutdown()
        await worker
    print(f"\n  {count} orders over Kafka + Aerospike finished in {seconds:.2f} s")
    for run_id, status in statuses.items():
        assert status.status is Status.COMPLETED, (run_id, status.error)
        o = status.state  # parallel call branches race (the last wins), so labels etc. vary
        assert (o.paid, o.fraud_checked, o.reserved, o.notified) == (True, True, True, True)
        assert o.box_id == f"{o.order_id}.box"
        assert not [n.name for n in status.nodes if n.status is Status.EXECUTING]
        assert status.pending_effects == 0
    assert left_waiting == [[]] * count and list(pending) == []
