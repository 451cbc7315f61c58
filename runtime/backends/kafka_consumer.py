"""One member of a Kafka consumer group, for `KafkaBroker.consumer()`.

No auto-commit: `commit(records)` only marks them processed (offset + 1 of the highest record per
partition, never moving a partition's committed offset backwards) and returns at once. A task of
the consumer commits what is marked at most every `commit_interval_ms`, so a busy consumer sends
one offset commit per interval instead of one per batch, and its fetch loop never waits for one.
What is marked is also committed when a rebalance revokes partitions (before the group rejoins)
and on `close()`. Only records the caller marked are ever committed, so a crash loses nothing:
what was processed but not yet committed is delivered again (at least once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol, cast

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from aiokafka.errors import (
    CommitFailedError,
    IllegalStateError,
    KafkaConnectionError,
    KafkaError,
)
from aiokafka.structs import TopicPartition

from runtime.types import BackendError, Incoming, Unavailable

if TYPE_CHECKING:
    from runtime.backends.kafka import KafkaSettings

log = logging.getLogger("runtime.backends.kafka")


CLOSE_TIMEOUT_S = 5.0  # how long closing waits for a broker that does not answer


@contextlib.contextmanager
def connecting(settings: KafkaSettings) -> Iterator[None]:
    """Turns a client's failure to start into a BackendError that says why: aiokafka logs the
    reason (connection refused, a certificate, SASL) and raises only 'Unable to bootstrap'."""
    reasons = _Reasons()
    logger = logging.getLogger("aiokafka")
    logger.addHandler(reasons)
    try:
        yield
    except KafkaError as exc:
        where = ",".join(settings.bootstrap)
        if isinstance(exc, KafkaConnectionError):
            why = reasons.last or "no broker answered"
        else:
            why = f"{type(exc).__name__}: {exc}"
        away = isinstance(exc, KafkaConnectionError) and not _refused(why)
        error = Unavailable if away else BackendError  # a password or certificate stays wrong
        raise error(f"cannot connect to Kafka at {where}: {why}") from exc
    finally:
        logger.removeHandler(reasons)


async def abandon_consumer(consumer: object) -> None:
    """After `stop()` gave up on a broker that does not answer: end the consumer's own tasks and
    close its connections without it. aiokafka (pinned below 0.15) has no call for this, so its
    parts are reached by name; nothing is left retrying behind an engine that closed."""
    coordinator = getattr(consumer, "_coordinator", None)
    for name in ("_coordination_task", "_heartbeat_task", "_commit_refresh_task"):
        task = getattr(coordinator, name, None)
        if isinstance(task, asyncio.Task) and not task.done():
            task.cancel()
    fetcher = getattr(consumer, "_fetcher", None)
    if fetcher is not None:
        await fetcher.close()
    client = getattr(consumer, "_client", None)
    if client is not None:
        await client.close()


async def abandon_producer(producer: object) -> None:
    """As `abandon_consumer`, for a producer whose `stop()` gave up: its sender stops retrying
    and its connections close (what Kafka did not acknowledge stays in the runs' outboxes)."""
    sender = getattr(producer, "_sender", None)
    if sender is not None:
        await sender.close()
    client = getattr(producer, "client", None)
    if client is not None:
        await client.close()


def _refused(why: str) -> bool:
    """Whether the broker answered and turned the client away (SASL, TLS): no use waiting."""
    return any(word in why for word in ("Authentication", "SSL", "CERTIFICATE", "Sasl"))


class _Reasons(logging.Handler):
    """The last reason aiokafka logged for not connecting to a broker."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.last: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if text.startswith("Unable connect to "):
            self.last = text.split(": ", 1)[-1]


class _Record(Protocol):
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes | None]]


class _Consumer(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    def subscribe(self, topics: list[str], *, listener: object) -> None: ...
    def assignment(self) -> set[TopicPartition]: ...
    async def getmany(
        self, *, timeout_ms: int, max_records: int
    ) -> Mapping[TopicPartition, Sequence[_Record]]: ...
    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None: ...


class KafkaConsumer:
    """One member of a consumer group. `start()` returns once the group has assigned it
    partitions (possibly none, when the group has more members than partitions)."""

    def __init__(self, settings: KafkaSettings, group: str, topics: tuple[str, ...]) -> None:
        self._settings = settings
        self.group = group
        self.topics = topics
        self._consumer: _Consumer | None = None
        self._processed: dict[TopicPartition, int] = {}  # next offsets marked, not committed
        self._committed: dict[TopicPartition, int] = {}  # committed by this member
        self._assigned = asyncio.Event()
        self._marked = asyncio.Event()  # set while marks wait for the committer
        self._flushing = asyncio.Lock()  # one offset commit at a time
        self._committer: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None  # the committer's, raised to the caller

    async def start(self) -> None:
        if self._consumer is not None:
            return
        s = self._settings
        consumer: _Consumer = AIOKafkaConsumer(
            bootstrap_servers=list(s.bootstrap),
            client_id=f"{s.client_id}-{self.group}",
            group_id=self.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=s.fetch_max_wait_ms,
            heartbeat_interval_ms=s.heartbeat_interval_ms,
            session_timeout_ms=s.session_timeout_ms,
            **s.security.client_options(),
        )
        consumer.subscribe(list(self.topics), listener=_Listener(self))
        with connecting(s):
            await consumer.start()
        self._consumer = consumer
        self._committer = asyncio.create_task(self._commit_periodically())
        try:
            await asyncio.wait_for(self._assigned.wait(), s.join_timeout)
        except TimeoutError:
            await self.close()
            raise TimeoutError(
                f"consumer group {self.group!r} assigned no partitions within {s.join_timeout} s"
            ) from None

    async def fetch(self, max_records: int, timeout: float) -> Sequence[Incoming]:
        consumer = self._running()
        batches = await consumer.getmany(
            timeout_ms=max(0, int(timeout * 1000)), max_records=max_records
        )
        return [_incoming(r) for records in batches.values() for r in records]

    async def commit(self, records: Sequence[Incoming]) -> None:
        """Mark `records` processed; they are committed within `commit_interval_ms`."""
        self._running()
        self._raise_failure()
        processed = self._processed
        for r in records:
            tp = TopicPartition(r.topic, r.partition)
            if r.offset >= processed.get(tp, 0):
                processed[tp] = r.offset + 1
        if processed:
            self._marked.set()

    async def close(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is None:
            return
        deadline = asyncio.get_running_loop().time() + CLOSE_TIMEOUT_S
        try:
            await self._stop_committer()
            await asyncio.wait_for(self._flush(consumer), CLOSE_TIMEOUT_S)
        except (KafkaError, TimeoutError) as e:
            log.warning("consumer group %r: last commit failed on close: %r", self.group, e)
        finally:
            left = max(1.0, deadline - asyncio.get_running_loop().time())
            try:  # leaves the group: its partitions move at once
                await asyncio.wait_for(consumer.stop(), left)
            except TimeoutError:
                log.warning("consumer group %r: Kafka did not answer on close", self.group)
                await abandon_consumer(consumer)
        self._raise_failure()

    async def _stop_committer(self) -> None:
        committer, self._committer = self._committer, None
        if committer is not None:
            committer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await committer

    async def _commit_periodically(self) -> None:
        """Commit what is marked, at most once per interval, while the consumer runs."""
        interval = self._settings.commit_interval_ms / 1000
        while True:
            await self._marked.wait()
            await asyncio.sleep(interval)  # marks made meanwhile join this commit
            self._marked.clear()
            consumer = self._consumer
            if consumer is None:
                return
            try:
                await self._flush(consumer)
            except KafkaError as e:  # the marks are kept: the next interval tries again
                log.warning("consumer group %r: offset commit failed: %s", self.group, e)
                self._marked.set()
            except Exception as e:  # not Kafka's: a bug; `commit` and `close` raise it
                self._failure = e
                return

    async def _flush(self, consumer: _Consumer) -> None:
        """Commit what was marked processed on partitions this member still owns; forget the
        rest (their next owner reads them again from the group's committed offset)."""
        async with self._flushing:
            assigned = consumer.assignment()
            offsets = {
                tp: offset
                for tp, offset in self._processed.items()
                if tp in assigned and offset > self._committed.get(tp, -1)
            }
            self._processed.clear()
            if offsets:
                await self._commit(consumer, offsets)

    async def _commit(self, consumer: _Consumer, offsets: dict[TopicPartition, int]) -> None:
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as e:
            log.info(
                "consumer group %r rebalanced before a commit; records will be delivered again: %s",
                self.group,
                e,
            )
            return
        except BaseException:
            for tp, offset in offsets.items():  # keep the marks for the next commit or revoke
                self._processed[tp] = max(self._processed.get(tp, 0), offset)
            raise
        for tp, offset in offsets.items():
            self._committed[tp] = max(self._committed.get(tp, -1), offset)

    async def _revoked(self, revoked: Iterable[TopicPartition]) -> None:
        consumer = self._consumer
        if consumer is not None:
            try:
                await self._flush(consumer)
            except KafkaError as e:
                log.warning("consumer group %r: commit before rebalance failed: %s", self.group, e)
        for tp in revoked:
            self._committed.pop(tp, None)

    def _raise_failure(self) -> None:
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise RuntimeError(
                f"consumer group {self.group!r}: committing offsets failed: {failure!r}"
            ) from failure

    def _running(self) -> _Consumer:
        if self._consumer is None:
            raise RuntimeError("KafkaConsumer is not started: call `await consumer.start()` first")
        return self._consumer


class _Listener:
    """aiokafka's rebalance callbacks. Registered as a virtual subclass of its (untyped) ABC,
    which aiokafka checks with `isinstance`."""

    def __init__(self, owner: KafkaConsumer) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._owner._revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.debug("consumer group %r assigned %s", self._owner.group, sorted(assigned))
        self._owner._assigned.set()


ConsumerRebalanceListener.register(_Listener)


def _incoming(r: _Record) -> Incoming:
    return Incoming(
        topic=r.topic,
        key=(r.key or b"").decode("utf-8", "replace"),  # any producer's key: never a crash
        value=r.value or b"",
        headers=_headers(r.headers),
        partition=r.partition,
        offset=r.offset,
    )


def _headers(headers: Sequence[tuple[str, bytes | None]]) -> tuple[tuple[str, bytes], ...]:
    """Kafka allows a header without a value; ours always have one (b"" for none). Runs once
    per record: the loop is several times cheaper than rebuilding every pair."""
    for _k, v in headers:
        if v is None:
            return tuple((k, v or b"") for k, v in headers)
    return cast("tuple[tuple[str, bytes], ...]", tuple(headers))  # no value is None
