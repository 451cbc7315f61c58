"""`kafka://host:9092`: the Broker on Apache Kafka, through aiokafka.

Sending uses one idempotent producer (acks=all): a batch is published and every acknowledgement
awaited; the key picks the partition (aiokafka's default partitioner is the Java client's murmur2),
so one key is always read in order by one group member. Consuming uses one AIOKafkaConsumer per
`consumer()`, without auto-commit: `commit(records)` marks them processed and commits offset + 1 of
the highest record per partition, never moving a partition's committed offset backwards. When a
rebalance revokes partitions, whatever was marked processed is committed before the group rejoins;
records fetched but not yet committed are delivered again to the next owner (at least once).

aiokafka ships no type information: the few parts used here are described by the Protocols below,
so no `Any` reaches the rest of the runtime.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol, TypeVar
from urllib.parse import parse_qsl, urlsplit

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError, for_code
from aiokafka.structs import TopicPartition
from attrs import frozen

from runtime.types import Incoming, Outgoing

log = logging.getLogger(__name__)

_TOPIC_ALREADY_EXISTS = 36
_P = TypeVar("_P")


@frozen(kw_only=True)
class KafkaSettings:
    """How the broker talks to Kafka. Defaults suit a local broker and low latency."""

    bootstrap: tuple[str, ...]
    client_id: str = "dagger"
    partitions: int = 4  # of the topics `ensure_topics` creates
    replication: int = 1
    linger_ms: int = 0  # batches still form while a request is in flight
    max_batch_size: int = 256 * 1024
    # How long the broker may hold an empty fetch. It answers as soon as data arrives, so this
    # costs no latency; small values only burn CPU polling (measured: ~6% of a core per idle
    # consumer at 10 ms, under 1% at 100 ms, same end-to-end latency).
    fetch_max_wait_ms: int = 100
    heartbeat_interval_ms: int = 1000  # how soon a member notices a rebalance
    session_timeout_ms: int = 10_000  # how soon a dead member's partitions move
    join_timeout: float = 60.0  # seconds `Consumer.start` waits for the first assignment


# --------------------------------------------------------------------------- aiokafka, typed


class _Record(Protocol):
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes | None]]


class _Producer(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def send(
        self, topic: str, value: bytes, *, key: bytes, headers: list[tuple[str, bytes]]
    ) -> asyncio.Future[object]: ...


class _Consumer(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    def subscribe(self, topics: list[str], *, listener: object) -> None: ...
    def assignment(self) -> set[TopicPartition]: ...
    async def getmany(
        self, *, timeout_ms: int, max_records: int
    ) -> Mapping[TopicPartition, Sequence[_Record]]: ...
    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None: ...


class _CreateTopicsResponse(Protocol):
    topic_errors: Sequence[tuple[str, int, str | None]]


class _Admin(Protocol):
    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def list_topics(self) -> list[str]: ...
    async def create_topics(self, new_topics: list[object]) -> _CreateTopicsResponse: ...


# --------------------------------------------------------------------------- the broker


class KafkaBroker:
    """The `Broker` port on Kafka. `start()` connects; `close()` flushes and disconnects."""

    def __init__(
        self,
        bootstrap: str,
        *,
        client_id: str = "dagger",
        partitions: int = 4,
        replication: int = 1,
        linger_ms: int = 0,
        fetch_max_wait_ms: int = 100,
    ) -> None:
        servers = tuple(s.strip() for s in bootstrap.split(",") if s.strip())
        if not servers:
            raise ValueError(f"'bootstrap' must name at least one host:port (got {bootstrap!r})")
        if partitions < 1:
            raise ValueError(f"'partitions' must be at least 1 (got {partitions})")
        self.settings = KafkaSettings(
            bootstrap=servers,
            client_id=client_id,
            partitions=partitions,
            replication=replication,
            linger_ms=linger_ms,
            fetch_max_wait_ms=fetch_max_wait_ms,
        )
        self._producer: _Producer | None = None
        self._admin: _Admin | None = None

    async def start(self) -> None:
        if self._producer is not None:
            return
        s = self.settings
        admin: _Admin = AIOKafkaAdminClient(
            bootstrap_servers=list(s.bootstrap), client_id=f"{s.client_id}-admin"
        )
        producer: _Producer = AIOKafkaProducer(
            bootstrap_servers=list(s.bootstrap),
            client_id=s.client_id,
            enable_idempotence=True,
            acks="all",
            linger_ms=s.linger_ms,
            max_batch_size=s.max_batch_size,
        )
        await admin.start()
        try:
            await producer.start()
        except BaseException:
            await admin.close()
            raise
        self._admin, self._producer = admin, producer

    async def close(self) -> None:
        producer, admin = self._producer, self._admin
        self._producer = self._admin = None
        if producer is not None:
            await producer.stop()  # flushes what is still buffered
        if admin is not None:
            await admin.close()

    async def ensure_topics(self, topics: Sequence[str]) -> None:
        admin = _started(self._admin)
        existing = set(await admin.list_topics())
        missing = sorted({t for t in topics if t not in existing})
        if not missing:
            return
        s = self.settings
        response = await admin.create_topics(
            [NewTopic(t, s.partitions, s.replication) for t in missing]
        )
        for topic, code, message in response.topic_errors:
            if code not in (0, _TOPIC_ALREADY_EXISTS):  # another worker may have won the race
                error = for_code(code)
                raise error(f"cannot create topic {topic!r}: {message or error.__name__}")

    async def send(self, messages: Sequence[Outgoing]) -> None:
        producer = _started(self._producer)
        pending = [
            await producer.send(
                m.topic, m.value, key=m.key.encode(), headers=[(k, v) for k, v in m.headers]
            )
            for m in messages
        ]
        await asyncio.gather(*pending)

    def consumer(self, group: str, topics: Sequence[str]) -> KafkaConsumer:
        return KafkaConsumer(self.settings, group, tuple(topics))


def _started(part: _P | None) -> _P:
    if part is None:
        raise RuntimeError("KafkaBroker is not started: call `await broker.start()` first")
    return part


# --------------------------------------------------------------------------- consumers


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
        )
        consumer.subscribe(list(self.topics), listener=_Listener(self))
        await consumer.start()
        self._consumer = consumer
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
        for r in records:
            tp = TopicPartition(r.topic, r.partition)
            self._processed[tp] = max(self._processed.get(tp, 0), r.offset + 1)
        await self._flush()

    async def close(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is None:
            return
        try:
            await self._flush(consumer)
        except KafkaError as e:
            log.warning("consumer group %r: last commit failed on close: %s", self.group, e)
        finally:
            await consumer.stop()  # leaves the group: its partitions move at once

    async def _flush(self, consumer: _Consumer | None = None) -> None:
        """Commit what was marked processed on partitions this member still owns; forget the
        rest (their next owner reads them again from the group's committed offset)."""
        consumer = consumer or self._running()
        assigned = consumer.assignment()
        offsets = {
            tp: offset
            for tp, offset in self._processed.items()
            if tp in assigned and offset > self._committed.get(tp, -1)
        }
        self._processed.clear()
        if not offsets:
            return
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
        if self._consumer is not None:
            try:
                await self._flush()
            except KafkaError as e:
                log.warning("consumer group %r: commit before rebalance failed: %s", self.group, e)
        for tp in revoked:
            self._committed.pop(tp, None)

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
        key=(r.key or b"").decode(),
        value=r.value or b"",
        headers=tuple((k, v or b"") for k, v in r.headers),
        partition=r.partition,
        offset=r.offset,
    )


# --------------------------------------------------------------------------- URLs

_INT_OPTIONS = ("partitions", "replication", "linger_ms", "fetch_max_wait_ms")


def kafka_broker_from_url(url: str) -> KafkaBroker:
    """`kafka://host:9092[,host2:9092][?partitions=8&client_id=orders&linger_ms=0...]`."""
    parts = urlsplit(url)
    if parts.scheme != "kafka":
        raise ValueError(f"a Kafka URL must start with 'kafka://' (got {url!r})")
    if not parts.netloc:
        raise ValueError(f"a Kafka URL must name host:port after 'kafka://' (got {url!r})")
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(query) - {"client_id", *_INT_OPTIONS})
    if unknown:
        known = ", ".join(("client_id", *_INT_OPTIONS))
        raise ValueError(f"unknown option {unknown[0]!r} in {url!r}; known: {known}")
    numbers = {name: _whole(url, name, query[name]) for name in _INT_OPTIONS if name in query}
    return KafkaBroker(parts.netloc, client_id=query.get("client_id", "dagger"), **numbers)


def _whole(url: str, name: str, value: str) -> int:
    if not value.isdigit():
        raise ValueError(f"'{name}' in {url!r} must be a whole number (got {value!r})")
    return int(value)
