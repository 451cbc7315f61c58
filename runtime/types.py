"""The runtime's contract: what generated modules, the engine and the backends share.

Generated modules build a `CompiledWorkflow[S]` from the node classes below and pure functions;
the engine drives it through `runtime.machine`; backends implement `Broker` and `Store`.
Nothing here does I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Generic, Literal, Protocol, TypeAlias, TypeVar, runtime_checkable

from attrs import frozen

S = TypeVar("S")
M = TypeVar("M")

JSON: TypeAlias = "bool | int | float | str | list[JSON] | dict[str, JSON] | None"
"""What generated encoders produce and decoders accept."""

MESSAGE_ID_HEADER = "dagger-id"
"""Header carrying a message's stable id: the same effect always sends the same id."""

TRACE_HEADER = "traceparent"


class Status(enum.StrEnum):
    """Status of an instance and of each of its nodes."""

    NOT_STARTED = "NOT_STARTED"
    EXECUTING = "EXECUTING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
    STOPPED = "STOPPED"

    @property
    def finished(self) -> bool:
        return self in _FINISHED


_FINISHED = frozenset({Status.COMPLETED, Status.FAILED, Status.SKIPPED, Status.STOPPED})


class DecodeError(ValueError):
    """A message or record could not be decoded; the text says which field and why."""


# --------------------------------------------------------------------------- topics and nodes


@frozen
class TopicSpec(Generic[M]):
    """A Kafka topic with its message codec and key function (emitted per topic)."""

    name: str
    key: Callable[[M], str]
    encode: Callable[[M], bytes]
    decode: Callable[[bytes], M]


@frozen
class RetryPolicy:
    """Attempts and exponential backoff with jitter for `call` (seconds)."""

    attempts: int = 3
    initial: float = 0.1
    multiplier: float = 2.0
    maximum: float = 30.0
    jitter: float = 0.1


@frozen(kw_only=True)
class Node(Generic[S]):
    """One entry of a workflow's node table. `id` is its index in the table."""

    id: int
    name: str
    parent: int  # -1 for the root
    line: str = ""  # "examples/orders.py:31" where the user wrote it


@frozen(kw_only=True)
class Sequence_(Node[S]):
    """Run children one after another: the workflow root, a flow, a branch."""

    children: tuple[int, ...]


@frozen(kw_only=True)
class Process(Node[S]):
    """A named group of tasks run in order; `timeout` skips the rest and moves on."""

    children: tuple[int, ...]
    timeout: float | None = None  # seconds


@frozen(kw_only=True)
class Command(Node[S], Generic[S, M]):
    topic: TopicSpec[M]
    build: Callable[[S], M]


@frozen(kw_only=True)
class Listen(Node[S], Generic[S, M]):
    topic: TopicSpec[M]
    match: Callable[[S], str]
    on: Callable[[S, M], S] | None = None
    timeout: float | None = None  # seconds
    on_timeout: Callable[[S], S] | None = None


@frozen(kw_only=True)
class Call(Node[S]):
    fn: Callable[[S], S | Awaitable[S]]
    retry: RetryPolicy = RetryPolicy()
    timeout: float | None = None  # seconds, per attempt
    on_error: Callable[[S, str], S] | None = None


@frozen(kw_only=True)
class Decide(Node[S]):
    """`choose(state)` picks the child whose label equals it; the others are skipped."""

    choose: Callable[[S], object]
    labels: tuple[object, ...]
    children: tuple[int, ...]


@frozen(kw_only=True)
class Parallel(Node[S]):
    children: tuple[int, ...]
    join: Literal["all", "any"] = "all"


@frozen(kw_only=True)
class Sleep(Node[S]):
    """A durable timer: `delay(state)` from activation."""

    delay: Callable[[S], timedelta]


@frozen(kw_only=True)
class Until(Node[S]):
    """A durable timer: fires at `at(state)` (an aware datetime)."""

    at: Callable[[S], datetime]


@frozen(kw_only=True)
class Poll(Node[S]):
    """Re-check `check(state)` every `every` seconds until true; fail at `deadline(state)`."""

    check: Callable[[S], bool]
    every: float  # seconds
    deadline: Callable[[S], datetime]


@frozen(kw_only=True)
class Fail(Node[S]):
    reason: Callable[[S], str]


# --------------------------------------------------------------------------- instances


@frozen
class NodeRun:
    """What happened to one node of one instance."""

    status: Status = Status.NOT_STARTED
    started_at: float | None = None
    ended_at: float | None = None
    attempt: int = 0
    detail: str | None = None


@frozen
class WaitRef:
    """An active listener: instance waits for `key` on `topic` at `node`."""

    topic: str
    key: str
    node: int


@frozen
class TimerRef:
    timer_id: str
    node: int
    due: float


@frozen
class Instance(Generic[S]):
    """The durable record of one workflow run. Pure data; the machine returns new copies."""

    id: str
    workflow: str
    version: str
    status: Status
    state: S
    nodes: tuple[NodeRun, ...]
    waits: tuple[WaitRef, ...] = ()
    timers: tuple[TimerRef, ...] = ()
    applied: tuple[str, ...] = ()
    created_at: float = 0.0
    updated_at: float = 0.0
    error: str | None = None


# --------------------------------------------------------------------------- events


@frozen
class Start:
    event_id: str


@frozen
class MessageArrived:
    event_id: str
    topic: str
    key: str
    message: object  # already decoded by the topic's TopicSpec


@frozen
class TimerFired:
    event_id: str
    timer_id: str


@frozen
class CallFinished:
    """A call attempt returned `state` or raised (`error`).

    `base` is the state the attempt started from. Calls in parallel branches run on the same
    state; with `base`, only the fields a call changed are applied, so sibling branches keep
    each other's updates (a field both changed: the later result wins)."""

    event_id: str
    node: int
    attempt: int
    state: object | None = None
    error: str | None = None
    base: object | None = None


@frozen
class Cancel:
    event_id: str
    reason: str = "cancelled"


Event: TypeAlias = Start | MessageArrived | TimerFired | CallFinished | Cancel


# --------------------------------------------------------------------------- effects


@frozen
class Send:
    topic: str
    key: str
    value: bytes
    message_id: str


@frozen
class AddWait:
    topic: str
    key: str


@frozen
class RemoveWait:
    topic: str
    key: str


@frozen
class SetTimer:
    timer_id: str
    due: float


@frozen
class CancelTimer:
    timer_id: str


@frozen
class RunCall:
    node: int
    attempt: int


@frozen
class Finished:
    status: Status


Effect: TypeAlias = Send | AddWait | RemoveWait | SetTimer | CancelTimer | RunCall | Finished


@frozen
class Transition(Generic[S]):
    instance: Instance[S]
    effects: tuple[Effect, ...]


# --------------------------------------------------------------------------- compiled workflows


@frozen(kw_only=True)
class CompiledWorkflow(Generic[S]):
    """The typed handle a generated module exports, e.g. `OrderWorkflow: CompiledWorkflow[Order]`."""

    name: str
    version: str  # hash of the IR
    source: str  # "examples/orders.py:OrderWorkflow"
    state_type: type[S]
    key: Callable[[S], str]
    encode_state: Callable[[S], JSON]
    decode_state: Callable[[JSON], S]
    nodes: tuple[Node[S], ...]
    topics: tuple[TopicSpec[Any], ...]
    graph: str = ""  # mermaid text


# --------------------------------------------------------------------------- ports


@frozen
class Outgoing:
    """A message to publish. `headers` carries at least MESSAGE_ID_HEADER."""

    topic: str
    key: str
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


@frozen
class Incoming:
    """A consumed message and its position, to commit once processed."""

    topic: str
    key: str
    value: bytes
    headers: tuple[tuple[str, bytes], ...]
    partition: int
    offset: int

    def header(self, name: str) -> bytes | None:
        for k, v in self.headers:
            if k == name:
                return v
        return None


class Consumer(Protocol):
    """One consumer-group member. `fetch` returns messages in order per partition."""

    async def start(self) -> None: ...

    async def fetch(self, max_records: int, timeout: float) -> Sequence[Incoming]: ...

    async def commit(self, records: Sequence[Incoming]) -> None:
        """Mark these records (and everything before them on their partitions) processed."""
        ...

    async def close(self) -> None: ...


class Broker(Protocol):
    """Where messages travel: memory, the SQLite log, or Kafka."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def ensure_topics(self, topics: Sequence[str]) -> None:
        """Create missing topics (and nothing else); existing ones are left as they are."""
        ...

    async def send(self, messages: Sequence[Outgoing]) -> None:
        """Publish durably; order is kept per (topic, key). Returns once all are acknowledged."""
        ...

    def consumer(self, group: str, topics: Sequence[str]) -> Consumer: ...


@frozen
class StoredInstance:
    """An instance as the store keeps it: `data` is opaque to the store."""

    id: str
    workflow: str
    status: str
    data: bytes
    generation: int = 0  # 0: not stored yet
    updated_at: float = 0.0
    outbox: bool = False  # effects not yet performed
    expires_at: float | None = None  # retention of finished instances


@frozen
class DueTimer:
    instance_id: str
    timer_id: str
    due: float


@frozen
class EarlyMessage:
    """A message that arrived before any listener waited for its key."""

    topic: str
    key: str
    message_id: str
    value: bytes
    expires_at: float


@frozen
class Page:
    items: tuple[StoredInstance, ...]
    next: str | None


class Store(Protocol):
    """Instance records, the correlation index, timers and early messages."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def get(self, instance_id: str) -> StoredInstance | None: ...

    async def put(self, record: StoredInstance, expected_generation: int) -> int | None:
        """Compare-and-set: write if the stored generation equals `expected_generation`
        (0: only if absent). Returns the new generation, or None when another writer won."""
        ...

    async def list(
        self, workflow: str | None, status: str | None, limit: int, cursor: str | None
    ) -> Page: ...

    async def with_outbox(self, limit: int) -> Sequence[str]:
        """Ids of instances whose outbox is not yet performed (recovery after a crash)."""
        ...

    async def add_wait(self, topic: str, key: str, instance_id: str) -> None: ...

    async def remove_wait(self, topic: str, key: str, instance_id: str) -> None: ...

    async def waiters(self, topic: str, key: str) -> Sequence[str]: ...

    async def add_timer(self, timer: DueTimer) -> None: ...

    async def remove_timer(self, instance_id: str, timer_id: str) -> None: ...

    async def due_timers(self, now: float, limit: int) -> Sequence[DueTimer]: ...

    async def next_due(self) -> float | None: ...

    async def add_early(self, message: EarlyMessage) -> None: ...

    async def take_early(self, topic: str, key: str) -> Sequence[EarlyMessage]:
        """Messages kept for (topic, key), not yet expired; they stay until `remove_early`."""
        ...

    async def remove_early(self, topic: str, key: str, message_id: str) -> None: ...

    async def purge(self, now: float) -> int:
        """Drop expired early messages and finished instances past retention; returns the count."""
        ...


IndexEffect: TypeAlias = AddWait | RemoveWait | SetTimer | CancelTimer
"""The effects that change a store's correlation index or timers (those of the record's id)."""


@frozen
class Written:
    """What `IndexingStore.put_indexed` did: the new generation (None: another writer won, and
    nothing was written), and the early messages kept for the pairs asked, read after the write."""

    generation: int | None
    early: tuple[EarlyMessage, ...] = ()


@runtime_checkable
class IndexingStore(Protocol):
    """An optional Store capability: the record and its index changes in one atomic write.

    A store offering it spares the engine a round trip per index change and the outbox entries
    those changes would need: written with the record, they cannot be lost between the two."""

    async def put_indexed(
        self,
        record: StoredInstance,
        expected_generation: int,
        index: Sequence[IndexEffect],
        peek: Sequence[tuple[str, str]] = (),
    ) -> Written:
        """`put`, and in the same atomic write the changes `index` makes, in order, to the waits
        and timers of `record.id` (as add_wait, remove_wait, add_timer and remove_timer would);
        none of them when the compare-and-set loses. Once written, the messages `take_early`
        returns for each (topic, key) of `peek`, pair after pair."""
        ...


@frozen
class Put:
    """One compare-and-set of `BatchStore.put_many`: what `put_indexed` takes, as a value."""

    record: StoredInstance
    expected_generation: int
    index: tuple[IndexEffect, ...] = ()
    peek: tuple[tuple[str, str], ...] = ()


@frozen
class Clear:
    """One `BatchStore.clear_many`: the outbox of the record written at `generation` performed."""

    instance_id: str
    generation: int
    peek: tuple[tuple[str, str], ...] = ()


@runtime_checkable
class BatchStore(IndexingStore, Protocol):
    """An optional capability of an IndexingStore: many records read in one round trip, and many
    compare-and-sets written in one. The engine then takes a batch of fetched messages (or of
    starts) as one step: one read, one write, one send, one clearing write.

    Each Put or Clear is atomic on its own (a record with its index changes), which is all the
    engine needs: every run in a batch is a step of its own. A store may make the whole call one
    transaction (SQLite does; Aerospike batches are atomic per record). If a call fails part way,
    a record it did write keeps its outbox until the engine's outbox sweep performs it."""

    async def get_many(self, instance_ids: Sequence[str]) -> Mapping[str, StoredInstance]:
        """The records of those ids that exist."""
        ...

    async def waiters_many(
        self, pairs: Sequence[tuple[str, str]]
    ) -> Mapping[tuple[str, str], Sequence[str]]:
        """`waiters` of each (topic, key); a pair nobody waits on may be left out."""
        ...

    async def put_many(self, puts: Sequence[Put]) -> Sequence[Written]:
        """`put_indexed` of each, in order, in one round trip; a compare-and-set that loses
        writes nothing of its own and leaves the others as they are. One Written per Put."""
        ...

    async def clear_many(self, clears: Sequence[Clear]) -> Sequence[Written]:
        """For each record still at its `generation`: `outbox` set false and a new generation,
        its data left as it is (the engine then reads its outbox as empty), and, as `put_indexed`
        does, the early messages of `peek`; one round trip, one Written per Clear, in order.
        Cheaper than rewriting each record without its performed effects."""
        ...
