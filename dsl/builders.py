"""The DSL's constructors. Each validates what types cannot say and records where it was called."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, TypeVar, overload

import attrs

from dsl.errors import DslError, Location, describe, here
from dsl.model import (
    CallStep,
    CommandStep,
    DecideStep,
    FailStep,
    Flow,
    Join,
    ListenStep,
    Node,
    ParallelStep,
    PollStep,
    ProcessDef,
    Retry,
    SleepStep,
    Step,
    Topic,
    UntilStep,
    Workflow,
)

S = TypeVar("S")
M = TypeVar("M")
E = TypeVar("E")
K = TypeVar("K", bound=str)
L = TypeVar("L")


def _name(arg: str, value: object, where: Location) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DslError(f"'{arg}' must be a non-empty <str> (got {describe(value)})", where)
    return value


def _attrs_class(arg: str, value: object, where: Location) -> None:
    if not (isinstance(value, type) and attrs.has(value)):
        raise DslError(
            f"'{arg}' must be an attrs class (decorate it with @frozen) (got {describe(value)})",
            where,
            code="DGR003",
        )


def _callable(arg: str, value: object, where: Location) -> None:
    if not callable(value):
        raise DslError(f"'{arg}' must be callable (got {describe(value)})", where)


def _duration(arg: str, value: object, where: Location, *, allow_zero: bool = False) -> None:
    if not isinstance(value, timedelta):
        raise DslError(
            f"'{arg}' must be a <timedelta> (got {describe(value)})", where, code="DGR004"
        )
    if value < timedelta(0) or (value == timedelta(0) and not allow_zero):
        bound = "non-negative" if allow_zero else "positive"
        raise DslError(
            f"'{arg}' must be a {bound} <timedelta> (got {value!r})", where, code="DGR004"
        )


def _branch(arg: str, value: object, where: Location) -> None:
    if not isinstance(value, Node):
        raise DslError(f"'{arg}' must be a task or a process (got {describe(value)})", where)


def topic(name: str, message: type[M], *, key: Callable[[M], K]) -> Topic[M, K]:
    """A Kafka topic of `message` values, partitioned and correlated by `key(message)`."""
    where = here()
    _name("name", name, where)
    _attrs_class("message", message, where)
    _callable("key", key, where)
    return Topic(name, message, key, where)


def workflow(name: str, state: type[S], *, key: Callable[[S], str]) -> Workflow[S]:
    """A workflow template over `state`; `key(state)` names the instance (idempotent start)."""
    where = here()
    _name("name", name, where)
    _attrs_class("state", state, where)
    _callable("key", key, where)
    return Workflow(name, state, key, (), where)


def process(
    name: str, *, timeout: timedelta | None = None, state: type[S] | None = None
) -> Flow[S]:
    """A named group of tasks; after `timeout` the rest of it is skipped and the workflow moves on."""
    where = here()
    _name("name", name, where)
    if timeout is not None:
        _duration("timeout", timeout, where)
    if state is not None:
        _attrs_class("state", state, where)
    return Flow(items=(ProcessDef(name, timeout, (), where, state),), location=where)


def command(topic: Topic[M, K], build: Callable[[S], M]) -> Step[S]:
    """Send `build(state)` to `topic`, keyed by the topic's key of the message."""
    where = here()
    if not isinstance(topic, Topic):
        raise DslError(f"'topic' must be a Topic made by topic(...) (got {describe(topic)})", where)
    _callable("build", build, where)
    return CommandStep(topic, build, where)


def listen(
    topic: Topic[E, K],
    *,
    match: Callable[[S], K],
    on: Callable[[S, E], S] | None = None,
    timeout: timedelta | None = None,
    on_timeout: Callable[[S], S] | None = None,
) -> Step[S]:
    """Wait for a message on `topic` whose key equals `match(state)`; fold it in with `on`."""
    where = here()
    if not isinstance(topic, Topic):
        raise DslError(f"'topic' must be a Topic made by topic(...) (got {describe(topic)})", where)
    _callable("match", match, where)
    if on is not None:
        _callable("on", on, where)
    if timeout is not None:
        _duration("timeout", timeout, where)
    if on_timeout is not None:
        _callable("on_timeout", on_timeout, where)
        if timeout is None:
            raise DslError(
                "'on_timeout' needs a 'timeout' (got timeout=None)", where, code="DGR004"
            )
    return ListenStep(topic, match, on, timeout, on_timeout, where)


def call(
    fn: Callable[[S], S | Awaitable[S]],
    *,
    retry: Retry | None = None,
    timeout: timedelta | None = None,
    on_error: Callable[[S, str], S] | None = None,
) -> Step[S]:
    """Run local code on the state, at least once, retried with backoff."""
    where = here()
    _callable("fn", fn, where)
    if retry is not None and not isinstance(retry, Retry):
        raise DslError(f"'retry' must be a Retry(...) (got {describe(retry)})", where)
    if timeout is not None:
        _duration("timeout", timeout, where)
    if on_error is not None:
        _callable("on_error", on_error, where)
    return CallStep(fn, retry or Retry(), timeout, on_error, where)


@overload
def decide(pred: Callable[[S], bool], /, *, then: Node[S], otherwise: Node[S]) -> Step[S]: ...


@overload
def decide(choose: Callable[[S], L], /, *, branches: Mapping[L, Node[S]]) -> Step[S]: ...


def decide(
    choose: Callable[[S], Any],
    /,
    *,
    then: Node[S] | None = None,
    otherwise: Node[S] | None = None,
    branches: Mapping[Any, Node[S]] | None = None,
) -> Step[S]:
    """Run one branch: `then`/`otherwise` by a predicate, or `branches[choose(state)]`."""
    where = here()
    _callable("choose", choose, where)
    if branches is None:
        if then is None or otherwise is None:
            raise DslError("decide(...) needs both 'then' and 'otherwise', or 'branches'", where)
        _branch("then", then, where)
        _branch("otherwise", otherwise, where)
        return DecideStep(choose, ((True, then), (False, otherwise)), True, where)
    if then is not None or otherwise is not None:
        raise DslError("decide(...) takes 'branches' or 'then'/'otherwise', not both", where)
    if not isinstance(branches, Mapping):
        raise DslError(
            f"'branches' must be a mapping of label to branch (got {describe(branches)})", where
        )
    for label, branch in branches.items():
        _branch(f"branches[{label!r}]", branch, where)
    return DecideStep(choose, tuple(branches.items()), False, where)


def parallel(*branches: Node[S], join: Join = "all") -> Step[S]:
    """Run branches concurrently; `join="any"` completes on the first and stops the rest."""
    where = here()
    if join not in ("all", "any"):
        raise DslError(f"'join' must be 'all' or 'any' (got {describe(join)})", where)
    for index, branch in enumerate(branches):
        _branch(f"branch {index + 1}", branch, where)
    return ParallelStep(tuple(branches), join, where)


def sleep(delay: timedelta | Callable[[S], timedelta]) -> Step[S]:
    """A durable timer: wait `delay` (or `delay(state)`) from when the task starts."""
    where = here()
    if isinstance(delay, timedelta):
        _duration("delay", delay, where, allow_zero=True)
    else:
        _callable("delay", delay, where)
    return SleepStep(delay, where)


def until(at: Callable[[S], datetime]) -> Step[S]:
    """A durable timer: wait until `at(state)` (an aware datetime)."""
    where = here()
    _callable("at", at, where)
    return UntilStep(at, where)


def poll(
    check: Callable[[S], bool], *, every: timedelta, deadline: Callable[[S], datetime]
) -> Step[S]:
    """Re-check `check(state)` every `every` until it is true; fail at `deadline(state)`."""
    where = here()
    _callable("check", check, where)
    _duration("every", every, where)
    _callable("deadline", deadline, where)
    return PollStep(check, every, deadline, where)


def fail(reason: str | Callable[[S], str]) -> Step[S]:
    """End the workflow as FAILED with `reason` (or `reason(state)`)."""
    where = here()
    if isinstance(reason, str):
        _name("reason", reason, where)
    else:
        _callable("reason", reason, where)
    return FailStep(reason, where)
