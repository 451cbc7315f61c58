"""What a workflow is to the runtime: its nodes, its instances, the events they take and the
effects they ask for, and the `CompiledWorkflow[S]` a generated module exports.

Generated modules build a `CompiledWorkflow[S]` from the node classes below and pure functions;
`runtime.machine` applies events to instances. Everything here is a frozen value; nothing does I/O.
`runtime.types` re-exports all of it beside the ports, so `from runtime.types import ...` names
the whole contract.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Generic, Literal, TypeAlias, TypeVar

from attrs import frozen

S = TypeVar("S")
M = TypeVar("M")

JSON: TypeAlias = "bool | int | float | str | list[JSON] | dict[str, JSON] | None"
"""What generated encoders produce and decoders accept."""


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


class EncodeError(ValueError):
    """A run's state could not be stored: the codec refused a value in it (an int beyond 64
    bits, text that is not valid UTF-8...); the text says which run, `why` what was refused."""

    def __init__(self, run_id: str, why: str) -> None:
        super().__init__(f"the state of run {run_id} cannot be stored: {why}")
        self.why = why


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
    """Waits for the message on `topic` whose key is `match(state)`. With `by_key` (the compiler
    sets it when `match` is the workflow's key expression) it waits on the run's own key: the
    engine finds the run by its id, without a correlation index."""

    topic: TopicSpec[M]
    match: Callable[[S], str]
    on: Callable[[S, M], S] | None = None
    timeout: float | None = None  # seconds
    on_timeout: Callable[[S], S] | None = None
    by_key: bool = False


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
    """The run now waits on (topic, key). `direct`: on its own key, by a `by_key` listener; no
    index keeps such a wait (the run is found by its id), but kept messages are still looked up."""

    topic: str
    key: str
    direct: bool = False


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
