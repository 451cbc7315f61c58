"""Consuming messages: the engine's listener topics, and `subscribe` handlers.

A batch is processed concurrently across keys and in order within a key, then committed. On a
listener topic each message is decoded with its TopicSpec; a message that does not decode (or whose
key function fails) goes to `<topic>.dead-letter` with its original bytes and headers naming the
reason and where it came from, and the engine goes on. The correlation key is `topic.key(message)`;
the message id is the MESSAGE_ID_HEADER when present, else `topic/partition/offset`. A message no
instance waits for is kept in the store (`early_retention`) and delivered when a listener starts.
A message for a run this engine cannot read (of a workflow it does not serve, or recorded by
another version of one it does) goes to the dead-letter topic too, once every run it can read
has taken it: replayed to an engine that serves that run, the others see it as a repeat.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from runtime.engine_api import UnreadableRunError
from runtime.engine_batch import Batches, Job
from runtime.engine_core import Core
from runtime.engine_idle import Lifecycle, patiently
from runtime.engine_registry import HANDOFF_TOPIC, dead_letter_topic
from runtime.engine_waiters import Waiters
from runtime.ops import tracing
from runtime.types import (
    MESSAGE_ID_HEADER,
    Consumer,
    EarlyMessage,
    Incoming,
    MessageArrived,
    Outgoing,
    SendFailed,
    TopicSpec,
)

_log = logging.getLogger("dagger.engine")

ERROR_HEADER = "dagger-error"
SOURCE_TOPIC_HEADER = "dagger-source-topic"
SOURCE_PARTITION_HEADER = "dagger-source-partition"
SOURCE_OFFSET_HEADER = "dagger-source-offset"
DEAD_LETTER_HEADERS = frozenset(
    {ERROR_HEADER, SOURCE_TOPIC_HEADER, SOURCE_PARTITION_HEADER, SOURCE_OFFSET_HEADER}
)  # what a dead letter carries beyond the message's own headers

Handler = Callable[[Incoming], Awaitable[None]]
BatchHandler = Callable[[Sequence[Incoming]], Awaitable[None]]


def message_id(rec: Incoming) -> str:
    mid = rec.header(MESSAGE_ID_HEADER)
    return mid.decode("utf-8", "replace") if mid else f"{rec.topic}/{rec.partition}/{rec.offset}"


async def consume(
    name: str, consumer: Consumer, handle: BatchHandler, life: Lifecycle, batch_size: int
) -> None:
    """Fetch, handle and commit until the engine stops; the consumer is closed on the way out."""
    life.register(name)
    await consumer.start()
    try:
        while not life.stopping:
            mark = life.mark()
            batch = await consumer.fetch(batch_size, 0.05)
            if not batch:
                life.quiet(name, mark)
                continue
            try:
                handled = await patiently(name, functools.partial(handle, batch), sleep=life.sleep)
            except Interrupted:
                break  # not committed: the batch is delivered again
            if not handled:
                break  # as above: stopped while a backend was away
            await consumer.commit(batch)
    finally:
        await consumer.close()


async def by_key(batch: Sequence[Incoming], handle: Handler) -> None:
    """Handle records concurrently across (topic, key), in order within one."""
    groups: dict[tuple[str, str], list[Incoming]] = {}
    for rec in batch:
        groups.setdefault((rec.topic, rec.key), []).append(rec)

    async def in_order(records: list[Incoming]) -> None:
        for rec in records:
            await handle(rec)

    if len(groups) == 1:  # no task needed
        await in_order(next(iter(groups.values())))
        return
    await asyncio.gather(*(handle(g[0]) if len(g) == 1 else in_order(g) for g in groups.values()))


class Intake:
    """Routes messages on listener topics to the instances waiting for them."""

    def __init__(self, core: Core, early_retention: float, batches: Batches | None) -> None:
        self._core = core
        self._early_retention = early_retention
        self._batches = batches
        self._waiters = Waiters(core)
        core.dead_letter = self.dead_letter  # for kept messages this build cannot decode

    async def handle_batch(self, batch: Sequence[Incoming]) -> None:
        """A fetched batch: the messages that go straight to one waiting run each, as one batch
        step (`engine_batch`); after it, the rest one at a time (in order within a key), which
        is every later message of a (topic, key) that one of them has, and every message for a
        run that is busy or already has one in the batch, so each sees the runs as they are."""
        if self._batches is None or len(batch) == 1:
            await by_key(batch, self.handle)
            return
        routes = [self._routable(rec) for rec in batch]
        pairs = list({(rec.topic, r[1]) for rec, r in zip(batch, routes, strict=True) if r})
        waiting, read = await self._waiters.waiters_many(self._batches.store, pairs)
        jobs: list[Job] = []
        sources: list[Incoming] = []  # of each job
        alone: list[Incoming] = []
        alone_keys: set[tuple[str, str]] = set()
        taken: set[str] = set()
        for rec, route in zip(batch, routes, strict=True):
            group = (rec.topic, rec.key)
            job = None
            if route is not None and group not in alone_keys:
                job = self._direct(rec, route, waiting, taken)
            if job is None:
                alone.append(rec)
                alone_keys.add(group)
            else:
                jobs.append(job)
                sources.append(rec)
                taken.add(job.iid)
        outcomes = await self._batches.run(jobs, read=read) if jobs else []
        failed: Exception | None = None
        for rec, outcome in zip(sources, outcomes, strict=True):
            if isinstance(outcome, UnreadableRunError):  # before later messages of its key
                await self.dead_letter(rec, str(outcome))
            elif isinstance(outcome, Exception):
                failed = failed or outcome
        if alone:
            await by_key(alone, self.handle)
        if failed is not None:
            raise failed  # as a message's step that fails alone does

    def _routable(self, rec: Incoming) -> tuple[object, str] | None:
        """(message, correlation key) of a listener's message that decodes and carries no trace
        context (a span of its own needs the one-at-a-time way); else None."""
        spec = self._core.registry.topics.get(rec.topic)
        if spec is None or rec.topic == HANDOFF_TOPIC or tracing.wanted(rec.headers):
            return None
        decoded = _decode(spec, rec)
        return None if isinstance(decoded, str) else decoded

    def _direct(
        self,
        rec: Incoming,
        route: tuple[object, str],
        waiting: Mapping[tuple[str, str], Sequence[str]],
        taken: set[str],
    ) -> Job | None:
        """The batch job for `rec` when exactly one run waits for it and nothing else in this
        batch or this engine is busy with that run; else None (it goes alone)."""
        message, key = route
        iids = waiting.get((rec.topic, key), ())
        if len(iids) != 1:
            return None
        iid = iids[0]
        if iid in taken or self._core.locks.held(iid):
            return None
        return Job(iid, MessageArrived(message_id(rec), rec.topic, key, message))

    async def handle(self, rec: Incoming) -> None:
        with tracing.span(f"dagger.consume {rec.topic}", headers=rec.headers):
            await self._handle(rec)

    async def _handle(self, rec: Incoming) -> None:
        if rec.topic == HANDOFF_TOPIC:
            iid = rec.value.decode("utf-8", "replace")
            try:
                await self._core.recover(iid)
            except UnreadableRunError as exc:  # an engine that can read it sweeps it up
                _log.warning("hand-off of %s left to the engines that serve it: %s", iid, exc)
            return
        spec = self._core.registry.topics.get(rec.topic)
        if spec is None:
            await self.dead_letter(rec, f"no workflow of this engine listens on {rec.topic}")
            return
        decoded = _decode(spec, rec)
        if isinstance(decoded, str):
            await self.dead_letter(rec, decoded)
            return
        message, key = decoded
        await self._route(rec, message, key)

    async def _route(self, rec: Incoming, message: object, key: str) -> None:
        store, mid = self._core.store, message_id(rec)
        waiting = await self._waiters.waiters(rec.topic, key)
        if not waiting:
            expires = time.time() + self._early_retention
            await store.add_early(EarlyMessage(rec.topic, key, mid, rec.value, expires))
            self._core.observer.on_early_message(rec.topic)
            waiting = await self._waiters.waiters(rec.topic, key)  # one that started meanwhile
            if not waiting:
                return
            await self._deliver(rec, waiting, MessageArrived(mid, rec.topic, key, message))
            await store.remove_early(rec.topic, key, mid)
            return
        await self._deliver(rec, waiting, MessageArrived(mid, rec.topic, key, message))

    async def _deliver(self, rec: Incoming, waiting: Sequence[str], event: MessageArrived) -> None:
        """`event` to every run in `waiting`; to the dead-letter topic if one cannot be read."""
        if len(waiting) == 1:  # the usual case; a task per delivery costs more than the step
            try:
                await self._core.process(waiting[0], event)
            except UnreadableRunError as exc:
                await self.dead_letter(rec, str(exc))
            return
        steps = (self._core.process(iid, event) for iid in waiting)
        outcomes = await asyncio.gather(*steps, return_exceptions=True)
        failed = [o for o in outcomes if isinstance(o, BaseException)]
        for error in failed:
            if not isinstance(error, UnreadableRunError):
                raise error
        if failed:
            await self.dead_letter(rec, "; ".join(str(e) for e in failed))

    async def dead_letter(self, rec: Incoming, reason: str) -> None:
        await dead_letter(self._core, rec, reason)


async def dead_letter(core: Core, rec: Incoming, reason: str) -> None:
    """`rec` to `<topic>.dead-letter`: its key, bytes and headers, and headers naming the reason
    and where it came from."""
    headers = (
        *((k, v) for k, v in rec.headers if k != MESSAGE_ID_HEADER),
        (MESSAGE_ID_HEADER, message_id(rec).encode()),
        (ERROR_HEADER, reason.encode()),
        (SOURCE_TOPIC_HEADER, rec.topic.encode()),
        (SOURCE_PARTITION_HEADER, str(rec.partition).encode()),
        (SOURCE_OFFSET_HEADER, str(rec.offset).encode()),
    )
    target = dead_letter_topic(rec.topic)
    letter = [Outgoing(target, rec.key, rec.value, headers)]
    # the batch waits: its offsets are committed only once the letter is sent
    send = functools.partial(core.broker.send, letter)
    await patiently(f"the dead letter of {message_id(rec)}", send, errors=(SendFailed,))
    core.observer.on_dead_letter(rec.topic, reason)
    _log.warning(
        "dead-lettered %s/%d/%d to %s: %s", rec.topic, rec.partition, rec.offset, target, reason
    )


def _decode(spec: TopicSpec[Any], rec: Incoming) -> tuple[object, str] | str:
    """(message, key), or the reason it cannot be processed."""
    try:
        message = spec.decode(rec.value)
    except Exception as exc:
        return f"cannot decode a {rec.topic} message: {type(exc).__name__}: {exc}"
    try:
        key: object = spec.key(message)
    except Exception as exc:
        return f"the key of a {rec.topic} message failed: {type(exc).__name__}: {exc}"
    if not isinstance(key, str):
        return f"the key of a {rec.topic} message is a {type(key).__name__}, not a str"
    return message, key


class Interrupted(Exception):
    """A batch left unfinished because the engine stops: it is not committed, so its records
    are delivered again."""


class Subscriber:
    """Calls `handler(message)` for each message of one topic (its own consumer group). A
    message that does not decode, or whose handler raises, goes to the topic's dead-letter
    topic with the reason (`daggerc dead-letters TOPIC --replay` sends it back). A handler
    that raises `SendFailed` (its `engine.send` found the broker down) runs again after a pause,
    until the broker takes its message or the engine stops (then the message is delivered again
    on the next start)."""

    def __init__(
        self,
        core: Core,
        topic: TopicSpec[Any],
        handler: Callable[[Any], Awaitable[None]],
        life: Lifecycle,
    ) -> None:
        self._core = core
        self.topic = topic
        self._handler = handler
        self._life = life

    async def handle(self, rec: Incoming) -> None:
        try:
            message = self.topic.decode(rec.value)
        except Exception as exc:
            reason = f"cannot decode a {rec.topic} message: {type(exc).__name__}: {exc}"
            await dead_letter(self._core, rec, reason)
            return
        handling = functools.partial(self._handler, message)
        try:
            handled = await patiently(
                f"the handler of {rec.topic} on {message_id(rec)}",
                handling,
                errors=(SendFailed,),
                sleep=self._life.sleep,
            )
        except Exception as exc:
            _log.exception("the handler of %s failed on %s", rec.topic, message_id(rec))
            reason = f"the handler of {rec.topic} raised {type(exc).__name__}: {exc}"
            await dead_letter(self._core, rec, reason)
            return
        if not handled:
            raise Interrupted  # the engine stopped first: the message is delivered again
