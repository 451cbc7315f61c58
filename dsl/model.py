"""The frozen values a DSL file builds. `>>` is pure: it returns a new value."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Generic, Literal, TypeVar

from attrs import field, frozen

from dsl.errors import DslError, Location, describe, here

S = TypeVar("S")
M = TypeVar("M")
K = TypeVar("K", bound=str)
Join = Literal["all", "any"]


@frozen(eq=False)
class Topic(Generic[M, K]):
    """A Kafka topic carrying messages of type M, keyed by K (a str or a NewType of it)."""

    name: str
    message: type[M]
    key: Callable[[M], K]
    location: Location


@frozen
class Retry:
    """How `call` retries: `attempts` in all, waiting `backoff * multiplier**n` (capped), +-jitter."""

    attempts: int = 3
    backoff: timedelta = timedelta(milliseconds=100)
    multiplier: float = 2.0
    max_backoff: timedelta = timedelta(seconds=30)
    jitter: float = 0.1

    def __attrs_post_init__(self) -> None:
        if self.attempts < 1:
            raise DslError(f"'attempts' must be at least 1 (got {describe(self.attempts)})", here())
        if self.backoff < timedelta(0) or self.max_backoff < timedelta(0):
            raise DslError("'backoff' and 'max_backoff' must not be negative", here())
        if self.multiplier < 1.0:
            raise DslError(
                f"'multiplier' must be at least 1.0 (got {describe(self.multiplier)})", here()
            )
        if not 0.0 <= self.jitter <= 1.0:
            raise DslError(
                f"'jitter' must be between 0 and 1 (got {describe(self.jitter)})", here()
            )


class Node(Generic[S]):
    """Anything that can stand on the right of `>>`: a task (`Step`) or a chain (`Flow`)."""

    __slots__ = ()


class Step(Node[S]):
    """A task over state S; one subclass per DSL constructor, each with its `location`."""

    __slots__ = ()
    location: Location

    def __rshift__(self, other: Node[S]) -> Flow[S]:
        return Flow(items=(self,), location=self.location) >> other


@frozen(eq=False)
class CommandStep(Step[S], Generic[S, M]):
    topic: Topic[M, Any]
    build: Callable[[S], M]
    location: Location


@frozen(eq=False)
class ListenStep(Step[S], Generic[S, M]):
    topic: Topic[M, Any]
    match: Callable[[S], str]
    on: Callable[[S, M], S] | None
    timeout: timedelta | None
    on_timeout: Callable[[S], S] | None
    location: Location


@frozen(eq=False)
class CallStep(Step[S]):
    fn: Callable[[S], S | Awaitable[S]]
    retry: Retry
    timeout: timedelta | None
    on_error: Callable[[S, str], S] | None
    location: Location


@frozen(eq=False)
class DecideStep(Step[S]):
    """`choose(state)` selects the branch with that label; `boolean` for the then/otherwise form."""

    choose: Callable[[S], object]
    branches: tuple[tuple[object, Node[S]], ...]
    boolean: bool
    location: Location


@frozen(eq=False)
class ParallelStep(Step[S]):
    branches: tuple[Node[S], ...]
    join: Join
    location: Location


@frozen(eq=False)
class SleepStep(Step[S]):
    delay: timedelta | Callable[[S], timedelta]
    location: Location


@frozen(eq=False)
class UntilStep(Step[S]):
    at: Callable[[S], datetime]
    location: Location


@frozen(eq=False)
class PollStep(Step[S]):
    check: Callable[[S], bool]
    every: timedelta
    deadline: Callable[[S], datetime]
    location: Location


@frozen(eq=False)
class FailStep(Step[S]):
    reason: str | Callable[[S], str]
    location: Location


@frozen(eq=False)
class ProcessDef(Generic[S]):
    """A named group of tasks (Dagger's process)."""

    name: str
    timeout: timedelta | None
    steps: tuple[Step[S], ...]
    location: Location
    state: type[S] | None = None


Item = ProcessDef[S] | Step[S]


def _rshift_items(items: tuple[Item[S], ...], other: object) -> tuple[Item[S], ...]:
    """Append `other` to a chain: a step joins the last process; a flow's processes follow."""
    if isinstance(other, Step):
        incoming: tuple[Item[S], ...] = (other,)
    elif isinstance(other, Flow):
        incoming = other.items
    else:
        raise DslError(
            f"the right side of '>>' must be a task or a process (got {describe(other)})",
            here(),
            code="DGR002",
        )
    result = list(items)
    for item in incoming:
        last = result[-1] if result else None
        if isinstance(item, Step) and isinstance(last, ProcessDef):
            result[-1] = ProcessDef(
                last.name, last.timeout, (*last.steps, item), last.location, last.state
            )
        else:
            result.append(item)
    return tuple(result)


@frozen(eq=False)
class Flow(Node[S]):
    """A chain of processes (and tasks), e.g. `process("SHIPPING", state=Order) >> call(ship)`."""

    items: tuple[Item[S], ...]
    location: Location

    def __rshift__(self, other: Node[S]) -> Flow[S]:
        return Flow(items=_rshift_items(self.items, other), location=self.location)


@frozen(eq=False)
class Workflow(Generic[S]):
    """A workflow template: typed state, the key that names an instance, and its processes."""

    name: str
    state: type[S]
    key: Callable[[S], str]
    items: tuple[Item[S], ...]
    location: Location
    module: str = field(default="")

    def __rshift__(self, other: Node[S]) -> Workflow[S]:
        return Workflow(
            self.name,
            self.state,
            self.key,
            _rshift_items(self.items, other),
            self.location,
            self.module,
        )
