"""The runtime's contract: what generated modules, the engine and the backends share.

The workflow model (nodes, instances, events, effects, `CompiledWorkflow[S]`) is defined in
`runtime.model` and re-exported here; the ports backends implement (`Broker`, `Store` and the
store's optional capabilities `IndexingStore` and `BatchStore`) and the values they exchange are
defined below. The engine drives a workflow through `runtime.machine`. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, TypeAlias, runtime_checkable

from attrs import frozen

from runtime.model import (
    JSON,
    AddWait,
    Call,
    CallFinished,
    Cancel,
    CancelTimer,
    Command,
    CompiledWorkflow,
    Decide,
    DecodeError,
    Effect,
    EncodeError,
    Event,
    Fail,
    Finished,
    Instance,
    Listen,
    M,
    MessageArrived,
    Node,
    NodeRun,
    Parallel,
    Poll,
    Process,
    RemoveWait,
    RetryPolicy,
    RunCall,
    S,
    Send,
    Sequence_,
    SetTimer,
    Sleep,
    Start,
    Status,
    TimerFired,
    TimerRef,
    TopicSpec,
    Transition,
    Until,
    WaitRef,
)

__all__ = [
    "JSON",
    "MESSAGE_ID_HEADER",
    "TRACE_HEADER",
    "AddWait",
    "BatchStore",
    "Broker",
    "Call",
    "CallFinished",
    "Cancel",
    "CancelTimer",
    "Clear",
    "Command",
    "CompiledWorkflow",
    "Consumer",
    "Decide",
    "DecodeError",
    "DueTimer",
    "EarlyMessage",
    "Effect",
    "EncodeError",
    "Event",
    "Fail",
    "Finished",
    "Incoming",
    "IndexEffect",
    "IndexingStore",
    "Instance",
    "Listen",
    "M",
    "MessageArrived",
    "MessageRefused",
    "Node",
    "NodeRun",
    "Outgoing",
    "Page",
    "Parallel",
    "Poll",
    "Process",
    "Put",
    "RecordRefused",
    "RemoveWait",
    "RetryPolicy",
    "RunCall",
    "S",
    "Send",
    "Sequence_",
    "SetTimer",
    "Sleep",
    "Start",
    "Status",
    "Store",
    "StoredInstance",
    "TimerFired",
    "TimerRef",
    "TopicSpec",
    "Transition",
    "Until",
    "WaitRef",
    "Written",
]

MESSAGE_ID_HEADER = "dagger-id"
"""Header carrying a message's stable id: the same effect always sends the same id."""

TRACE_HEADER = "traceparent"

# --------------------------------------------------------------------------- ports


@frozen
class Outgoing:
    """A message to publish. `headers` carries at least MESSAGE_ID_HEADER."""

    topic: str
    key: str
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


class BackendError(RuntimeError):
    """A broker or store cannot be used: it cannot be reached, or it is not set up as it must be
    (an Aerospike namespace that does not exist, a SQLite file that cannot be opened). The text
    names the backend and where it was looked for."""


class Unavailable(BackendError):
    """A broker or store did not answer, for now (a timeout, a lost connection): the same call
    may work later. The engine's loops wait and try again; a caller of the Engine API sees it."""


class RecordRefused(Exception):
    """Raised by a store's write: it refuses the record and always will (too big for it, say).
    The engine then ends the run FAILED with the state it had (that record it took)."""


class MessageRefused(Exception):
    """Raised by `Broker.send`: the broker refuses a message of the call and always will (too
    big for the topic, say). Sending the call's other messages again on their own may work."""


class SendFailed(Exception):
    """Raised by `Broker.send`: the broker did not take the messages this time (it cannot be
    reached, a partition has no leader yet). Some of them may have been written; sending them
    all again later is safe, since each carries its message id."""


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
    """Where messages travel: memory, the SQLite log, or Kafka. `max_message_bytes`: the longest
    message value it takes (None: no limit worth checking); a command over it fails its node."""

    max_message_bytes: int | None

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def ensure_topics(self, topics: Sequence[str]) -> None:
        """Create missing topics (and nothing else); existing ones are left as they are."""
        ...

    async def send(self, messages: Sequence[Outgoing]) -> None:
        """Publish durably; order is kept per (topic, key). Returns once all are acknowledged;
        MessageRefused when the broker will never take one of them."""
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
    refused: str | None = None  # why the store refuses the record for good (nothing written)


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
