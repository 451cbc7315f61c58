"""The physical limit of the pattern: plain aiokafka, no engine, the same messages.

A "workflow" here is stateless reactions: producing PAYMENT_COMMAND starts it; a simulated service
answers each command on its listener topic; a reactor consumes PAYMENT_LISTENER and produces
SHIPPING_COMMAND, and consuming SHIPPING_LISTENER completes it. Both consumers are at least once
like an engine's: process a batch, wait for its sends to be acknowledged, then commit its offsets.
The producer is the one dagger uses: idempotent, acks=all, with batching; fetch waits are small.

    python -m bench.contenders.kafka_raw_echo --bootstrap 127.0.0.1:9092 --workdir /tmp/x
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from attrs import frozen

from bench.contenders.common import (
    Figures,
    Options,
    Tracker,
    calibrate_and_measure,
    emit_result,
    parse_options,
)
from bench.contenders.topics import create_topics, delete_topics

FETCH_WAIT_MS = 5
MAX_RECORDS = 2000
BURST_TIMEOUT_S = 300.0


@frozen
class Topics:
    payment_command: str
    payment_listener: str
    shipping_command: str
    shipping_listener: str

    @classmethod
    def for_run(cls, run: str) -> Topics:
        return cls(*(f"raw-{run}-{name}" for name in _NAMES))

    def all(self) -> tuple[str, ...]:
        return (
            self.payment_command,
            self.payment_listener,
            self.shipping_command,
            self.shipping_listener,
        )


Handler = Callable[[Any, list[str]], Awaitable[Awaitable[Any] | None]]
"""Reacts to one consumed record; returns the send to wait for, and appends completed orders."""

_NAMES = ("PAYMENT_COMMAND", "PAYMENT_LISTENER", "SHIPPING_COMMAND", "SHIPPING_LISTENER")


def producer(bootstrap: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=True,
        acks="all",
        linger_ms=2,
        max_batch_size=256 * 1024,
    )


def consumer(bootstrap: str, group: str, topics: Sequence[str]) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=FETCH_WAIT_MS,
        max_poll_records=MAX_RECORDS,
    )


class Echo:
    """The service and the reactor, each with its own consumer group, sharing one producer."""

    def __init__(self, bootstrap: str, run: str) -> None:
        self.bootstrap = bootstrap
        self.topics = Topics.for_run(run)
        t = self.topics
        self.producer = producer(bootstrap)
        self.service = consumer(
            bootstrap, f"raw-{run}-service", [t.payment_command, t.shipping_command]
        )
        self.reactor = consumer(
            bootstrap, f"raw-{run}-reactor", [t.payment_listener, t.shipping_listener]
        )
        self.tracker = Tracker("idle", 0)
        self._loops: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await create_topics(self.bootstrap, self.topics.all())
        await self.producer.start()
        await self.service.start()
        await self.reactor.start()
        self._loops = [
            asyncio.create_task(self._consume(self.service, self._serve)),
            asyncio.create_task(self._consume(self.reactor, self._react)),
        ]

    async def close(self) -> None:
        for loop in self._loops:
            loop.cancel()
        for loop in self._loops:
            with contextlib.suppress(asyncio.CancelledError):
                await loop
        await self.service.stop()
        await self.reactor.stop()
        await self.producer.stop()
        await delete_topics(self.bootstrap, self.topics.all())  # this run's, named for it

    async def burst(self, phase: str, n: int) -> Figures:
        tracker = self.tracker = Tracker(phase, n)
        tracker.start_clock()
        sends = []
        commands = [
            (order, orjson.dumps({"order_id": order, "amount_cents": 1250}))
            for order in tracker.order_ids()
        ]
        self._started(commands)
        for order, value in commands:
            sends.append(await self._send(self.topics.payment_command, order, value))
        await asyncio.gather(*sends)
        self._sent_starts(commands)
        await self._wait(tracker)
        return tracker.figures()

    async def _wait(self, tracker: Tracker) -> None:
        """Wait for the burst, or fail with the error of a consumer loop that stopped."""
        waiting = asyncio.create_task(tracker.wait(BURST_TIMEOUT_S))
        finished, _ = await asyncio.wait(
            [waiting, *self._loops], return_when=asyncio.FIRST_COMPLETED
        )
        if waiting not in finished:
            waiting.cancel()
            for loop in finished:
                loop.result()  # raises the loop's error
            raise RuntimeError("a consumer loop stopped without an error")
        waiting.result()

    def _started(self, commands: list[tuple[str, bytes]]) -> None:
        """Before the first commands of orders are produced (stateless here: nothing)."""

    def _sent_starts(self, commands: list[tuple[str, bytes]]) -> None:
        """Once Kafka acknowledged the first commands of orders (stateless here: nothing)."""

    def _reacting(self, records: list[Any]) -> None:
        """Before the reactor produces what a fetched batch asks for (stateless: nothing)."""

    def _sent(self, records: list[Any]) -> None:
        """Once Kafka acknowledged what the reactor produced for a fetched batch, before its
        offsets are committed (stateless: nothing)."""

    async def _send(self, topic: str, key: str, value: bytes) -> Awaitable[Any]:
        future: Awaitable[Any] = await self.producer.send(topic, value=value, key=key.encode())
        return future

    async def _consume(self, member: AIOKafkaConsumer, handle: Handler) -> None:
        while True:
            batches = await member.getmany(timeout_ms=100, max_records=MAX_RECORDS)
            records = [record for batch in batches.values() for record in batch]
            if not records:
                continue
            done: list[str] = []
            if member is self.reactor:
                self._reacting(records)
            sends = [await handle(record, done) for record in records]
            await asyncio.gather(*(send for send in sends if send is not None))
            if member is self.reactor:
                self._sent(records)
            await member.commit()
            for order in done:
                self.tracker.completed(order)

    async def _serve(self, record: Any, done: list[str]) -> Awaitable[Any]:
        command = orjson.loads(record.value)
        order: str = command["order_id"]
        if record.topic == self.topics.payment_command:
            self.tracker.payment_replied(order)
            reply = orjson.dumps({"order_id": order, "ok": True})
            return await self._send(self.topics.payment_listener, order, reply)
        self.tracker.shipping_requested(order)
        reply = orjson.dumps({"order_id": order, "tracking": f"T-{order}"})
        return await self._send(self.topics.shipping_listener, order, reply)

    async def _react(self, record: Any, done: list[str]) -> Awaitable[Any] | None:
        event = orjson.loads(record.value)
        order: str = event["order_id"]
        if record.topic == self.topics.payment_listener:
            if not event["ok"]:
                raise ValueError(
                    f"payment declined for {order}: the simulated service never declines"
                )
            command = orjson.dumps({"order_id": order, "address": "1 Main St"})
            return await self._send(self.topics.shipping_command, order, command)
        done.append(order)
        return None


async def main(options: Options) -> None:
    echo = Echo(options.bootstrap, uuid.uuid4().hex[:8])
    await echo.start()
    try:
        figures, _ = await calibrate_and_measure(
            echo.burst, options, warmup_n=3000, floor=3000, ceiling=500_000
        )
    finally:
        await echo.close()
    emit_result(figures.as_json())


if __name__ == "__main__":
    asyncio.run(main(parse_options(__doc__ or "")))
