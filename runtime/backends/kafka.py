"""`kafka://host:9092`: the Broker on Apache Kafka, through aiokafka.

Sending uses one idempotent producer (acks=all): a batch is published and every acknowledgement
awaited; the key picks the partition (aiokafka's default partitioner is the Java client's murmur2),
so one key is always read in order by one group member. The sends of one event-loop iteration are
handed to the producer as whole record batches, one per partition (runtime/backends/
kafka_sender.py), and the producer gathers what is queued while its previous request to a broker
is in flight.
Consuming uses one AIOKafkaConsumer per `consumer()` (runtime/backends/kafka_consumer.py), without
auto-commit: `commit(records)` marks them processed, and the marks are committed every
`commit_interval_ms`, when a rebalance revokes partitions, and on close; records fetched but not
yet committed are delivered again to the next owner (at least once).

aiokafka ships no type information: the few parts used here are described by the Protocols below,
so no `Any` reaches the rest of the runtime.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Sequence
from typing import Protocol, TypeVar
from urllib.parse import parse_qsl, urlsplit

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    CorruptRecordException,
    KafkaError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    OutOfOrderSequenceNumber,
    ProducerClosed,
    RecordListTooLargeError,
    RecordTooLargeError,
    for_code,
)
from aiokafka.partitioner import DefaultPartitioner, murmur2
from attrs import field, frozen

from runtime.backends.kafka_consumer import (
    CLOSE_TIMEOUT_S,
    KafkaConsumer,
    abandon_producer,
    connecting,
)
from runtime.backends.kafka_security import OPTIONS as SECURITY_OPTIONS
from runtime.backends.kafka_security import KafkaSecurity
from runtime.backends.kafka_sender import BatchingProducer, Coalescer
from runtime.types import BackendError, MessageRefused, Outgoing, SendFailed
from runtime.urls import redacted

__all__ = [
    "KafkaBroker",
    "KafkaConsumer",
    "KafkaSettings",
    "KeyPartitioner",
    "kafka_broker_from_url",
]

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
    # How often a consumer commits the offsets marked processed. Committing per batch cost one
    # round trip per batch on the fetch loop; a longer interval only means a little more is
    # delivered again after a crash (never less: only processed records are committed).
    commit_interval_ms: int = 100
    # The longest message value a command may send. Kafka's defaults take about 1 MiB per
    # message (broker `message.max.bytes`, producer `max.request.size`); this leaves room for the
    # key, the headers and the batch around it. Raise it only with the brokers' and topics'.
    max_message_bytes: int = 1_000_000
    # How long a send waits for the broker (metadata, room to queue) before it fails. The
    # engine's messages then stay in their runs' outboxes and housekeeping sends them again.
    request_timeout_ms: int = 40_000
    security: KafkaSecurity = field(factory=KafkaSecurity)  # TLS and SASL (kafka_security.py)


# --------------------------------------------------------------------------- aiokafka, typed


class _Producer(BatchingProducer, Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


class _CreateTopicsResponse(Protocol):
    topic_errors: Sequence[tuple[str, int, str | None]]


class _Admin(Protocol):
    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def list_topics(self) -> list[str]: ...
    async def create_topics(self, new_topics: list[object]) -> _CreateTopicsResponse: ...


# --------------------------------------------------------------------------- the broker

# What Kafka refuses for good: sending the same bytes again fails again.
_REFUSED = (
    MessageSizeTooLargeError,
    RecordTooLargeError,
    RecordListTooLargeError,
    CorruptRecordException,
)


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
        commit_interval_ms: int = 100,
        max_message_bytes: int = 1_000_000,
        request_timeout_ms: int = 40_000,
        security: KafkaSecurity | None = None,
    ) -> None:
        servers = tuple(s.strip() for s in bootstrap.split(",") if s.strip())
        if not servers:
            raise ValueError(f"'bootstrap' must name at least one host:port (got {bootstrap!r})")
        if partitions < 1:
            raise ValueError(f"'partitions' must be at least 1 (got {partitions})")
        if max_message_bytes < 1:
            raise ValueError(f"'max_message_bytes' must be at least 1 (got {max_message_bytes})")
        if request_timeout_ms < 1:
            raise ValueError(f"'request_timeout_ms' must be at least 1 (got {request_timeout_ms})")
        self.settings = KafkaSettings(
            bootstrap=servers,
            client_id=client_id,
            partitions=partitions,
            replication=replication,
            linger_ms=linger_ms,
            fetch_max_wait_ms=fetch_max_wait_ms,
            commit_interval_ms=commit_interval_ms,
            max_message_bytes=max_message_bytes,
            request_timeout_ms=request_timeout_ms,
            security=security or KafkaSecurity(),
        )
        self.max_message_bytes: int | None = max_message_bytes
        self._producer: _Producer | None = None
        self._sender: Coalescer | None = None
        self._admin: _Admin | None = None
        self._partitioner = KeyPartitioner()
        self._renewing = asyncio.Lock()

    async def start(self) -> None:
        if self._producer is not None:
            return
        s = self.settings
        admin: _Admin = AIOKafkaAdminClient(
            bootstrap_servers=list(s.bootstrap),
            client_id=f"{s.client_id}-admin",
            **s.security.client_options(),
        )
        with connecting(s):
            await admin.start()
        try:
            with connecting(s):
                producer = await self._new_producer()
        except BaseException:
            await admin.close()
            raise
        self._admin, self._producer = admin, producer
        self._sender = Coalescer(producer, self._partitioner)

    async def _new_producer(self) -> _Producer:
        s = self.settings
        producer: _Producer = AIOKafkaProducer(
            bootstrap_servers=list(s.bootstrap),
            client_id=s.client_id,
            enable_idempotence=True,
            acks="all",
            linger_ms=s.linger_ms,
            max_batch_size=s.max_batch_size,
            max_request_size=max(1_048_576, s.max_message_bytes + 65_536),
            request_timeout_ms=s.request_timeout_ms,
            partitioner=self._partitioner,
            **s.security.client_options(),
        )
        await producer.start()
        return producer

    async def close(self) -> None:
        producer, admin = self._producer, self._admin
        self._producer = self._admin = self._sender = None
        if producer is not None:
            await _stop(producer)
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
                where = ",".join(s.bootstrap)
                raise BackendError(
                    f"Kafka at {where} cannot create topic {topic!r}: {message or error.__name__}"
                )

    async def send(self, messages: Sequence[Outgoing]) -> None:
        """Published with the other sends of this event-loop iteration (`kafka_sender`).

        A batch the broker refuses leaves its partition's sequence numbers taken but unwritten,
        so the idempotent producer's next batch to that partition would be refused as out of
        order, for good: after a refusal the broker starts a new producer (a new producer id),
        and a send refused as out of order, or caught by that change, goes again once on it.
        An error Kafka says may pass (no leader, no connection, a timeout) is `SendFailed`."""
        topics = ", ".join(sorted({m.topic for m in messages}))
        for attempt in (1, 2):
            sender = _started(self._sender)
            try:
                await sender.send(messages)
                return
            except _REFUSED as exc:
                await self._renew(sender, exc)
                raise MessageRefused(f"Kafka refused a message for {topics}: {exc}") from exc
            except (OutOfOrderSequenceNumber, ProducerClosed) as exc:
                if self._sender is None:
                    raise
                if attempt == 2:
                    raise _not_taken(topics, exc) from exc
                await self._renew(sender, exc)
            except KafkaError as exc:
                if isinstance(exc, KafkaTimeoutError) or exc.retriable:
                    raise _not_taken(topics, exc) from exc
                raise

    async def _renew(self, sender: Coalescer, why: Exception) -> None:
        """A new producer in place of the one behind `sender` (unless it was renewed since); the
        old one is stopped after the swap, so its batches in flight finish or fail on their own."""
        async with self._renewing:
            if self._sender is not sender:
                return
            old = self._producer
            producer = await self._new_producer()
            if self._sender is not sender:  # closed meanwhile
                await _stop(producer)
                return
            log.warning("Kafka producer restarted (a new producer id) after %s", type(why).__name__)
            self._producer, self._sender = producer, Coalescer(producer, self._partitioner)
        if old is not None:
            await _stop(old)

    def consumer(self, group: str, topics: Sequence[str]) -> KafkaConsumer:
        return KafkaConsumer(self.settings, group, tuple(topics))


async def _stop(producer: _Producer) -> None:
    """Stop `producer`, flushing what it still buffers, for at most CLOSE_TIMEOUT_S."""
    try:
        await asyncio.wait_for(producer.stop(), CLOSE_TIMEOUT_S)
    except TimeoutError:
        log.warning(
            "Kafka did not acknowledge every message within %.0f s of closing; they stay in"
            " their runs' outboxes, sent again by housekeeping or when a worker starts",
            CLOSE_TIMEOUT_S,
        )
        await abandon_producer(producer)


def _not_taken(topics: str, exc: Exception) -> SendFailed:
    return SendFailed(f"Kafka did not take messages for {topics}: {type(exc).__name__}: {exc}")


class KeyPartitioner:
    """aiokafka's default partitioner (the Java client's: murmur2 of the key bytes, modulo the
    partition count), remembering the hashes of recent keys: a run's key is hashed for every
    message sent about it, and murmur2 in Python costs ~7 µs, as much as the rest of a send."""

    def __init__(self, size: int = 1 << 16) -> None:
        self._size = size
        self._hashes: dict[bytes, int] = {}
        self._default = DefaultPartitioner()

    def __call__(self, key: bytes | None, partitions: list[int], available: list[int]) -> int:
        if key is None:
            chosen: int = self._default(key, partitions, available)
            return chosen
        hashed = self._hashes.get(key)
        if hashed is None:
            if len(self._hashes) >= self._size:
                self._forget_older_half()
            hashed = self._hashes[key] = murmur2(key) & 0x7FFFFFFF
        return partitions[hashed % len(partitions)]

    def _forget_older_half(self) -> None:
        """Drop the half hashed longest ago (a dict keeps insertion order): with more keys in
        flight than it holds, the keys in use stay, instead of all starting over."""
        for key in list(itertools.islice(self._hashes, len(self._hashes) // 2)):
            del self._hashes[key]


def _started(part: _P | None) -> _P:
    if part is None:
        raise RuntimeError("KafkaBroker is not started: call `await broker.start()` first")
    return part


# --------------------------------------------------------------------------- URLs

_INT_OPTIONS = (
    "partitions",
    "replication",
    "linger_ms",
    "fetch_max_wait_ms",
    "commit_interval_ms",
    "max_message_bytes",
    "request_timeout_ms",
)


def kafka_broker_from_url(url: str) -> KafkaBroker:
    """`kafka://[user[:password]@]host:9092[,host2:9092][?partitions=8&client_id=orders...]`;
    the security options are kafka_security.py's."""
    parts = urlsplit(url)
    shown = redacted(url)
    if parts.scheme != "kafka":
        raise ValueError(f"a Kafka URL must start with 'kafka://' (got {shown!r})")
    hosts = parts.netloc.rpartition("@")[2]
    if not hosts:
        raise ValueError(f"a Kafka URL must name host:port after 'kafka://' (got {shown!r})")
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(query) - {"client_id", *_INT_OPTIONS, *SECURITY_OPTIONS})
    if unknown:
        known = ", ".join(("client_id", *_INT_OPTIONS, *SECURITY_OPTIONS))
        raise ValueError(f"unknown option {unknown[0]!r} in {shown!r}; known: {known}")
    numbers = {name: _whole(shown, name, query[name]) for name in _INT_OPTIONS if name in query}
    security = KafkaSecurity.from_url(url, parts.username, parts.password, query)
    client_id = query.get("client_id", "dagger")
    return KafkaBroker(hosts, client_id=client_id, security=security, **numbers)


def _whole(url: str, name: str, value: str) -> int:
    if not value.isdigit():
        raise ValueError(f"'{name}' in {url!r} must be a whole number (got {value!r})")
    return int(value)
