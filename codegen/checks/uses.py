"""Every user callable a workflow holds, with what the runtime passes it and must get back."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from attrs import frozen

from codegen import source
from codegen.checks import walk
from codegen.checks.typeinfo import Known, returns
from dsl.errors import Location
from dsl.model import (
    CallStep,
    CommandStep,
    DecideStep,
    FailStep,
    ListenStep,
    PollStep,
    SleepStep,
    UntilStep,
)


@frozen
class Expect:
    """A type and what it is, as messages say it: `Order` and `the workflow state`."""

    tp: object
    role: str


@frozen
class Use:
    """One callable passed to a DSL constructor (argument `arg` of `owner`)."""

    fn: object
    arg: str
    owner: str  # "command(charges)", "topic 'PAYMENTS'", "workflow 'OrderWorkflow'"
    location: Location  # of the argument
    params: tuple[Expect, ...]
    result: Expect | None  # None: any result is fine here (or checked elsewhere)
    code: str
    awaitable: bool = False  # the runtime awaits the result when it is awaitable


def _arg(step_location: Location, keyword: str, position: int | None = None) -> Location:
    return source.argument_location(step_location, keyword, position)


def topic_uses(topic: walk.AnyTopic) -> Iterator[Use]:
    yield Use(
        topic.key,
        "key",
        walk.topic_name(topic),
        _arg(topic.location, "key"),
        (Expect(topic.message, f"the message of {walk.topic_name(topic)}"),),
        Expect(str, "a Kafka key"),
        "DGR210",
    )


def workflow_uses(workflow: walk.AnyWorkflow) -> Iterator[Use]:
    state = Expect(workflow.state, "the workflow state")
    yield Use(
        workflow.key,
        "key",
        f"workflow {workflow.name!r}",
        _arg(workflow.location, "key"),
        (state,),
        Expect(str, "the instance id"),
        "DGR210",
    )
    for step in walk.steps(workflow.items):
        yield from step_uses(step, state)


def step_uses(step: walk.AnyStep, state: Expect) -> Iterator[Use]:
    uses = _BY_KIND.get(type(step))
    if uses is not None:
        yield from uses(step, state, walk.describe(step))


def _command(step: CommandStep[object, object], state: Expect, owner: str) -> Iterator[Use]:
    message = Expect(step.topic.message, f"the message of {walk.topic_name(step.topic)}")
    loc = _arg(step.location, "build", 1)
    yield Use(step.build, "build", owner, loc, (state,), message, "DGR202")


def _call(step: CallStep[object], state: Expect, owner: str) -> Iterator[Use]:
    loc = _arg(step.location, "fn", 0)
    yield Use(step.fn, "fn", owner, loc, (state,), state, "DGR206", awaitable=True)
    if step.on_error is not None:
        error = Expect(str, "the error message")
        loc = _arg(step.location, "on_error")
        yield Use(step.on_error, "on_error", owner, loc, (state, error), state, "DGR206")


def _decide(step: DecideStep[object], state: Expect, owner: str) -> Iterator[Use]:
    result = _BOOL if step.boolean else None
    loc = _arg(step.location, "choose", 0)
    yield Use(step.choose, "choose", owner, loc, (state,), result, "DGR209")


def _sleep(step: SleepStep[object], state: Expect, owner: str) -> Iterator[Use]:
    if not isinstance(step.delay, timedelta):
        loc = _arg(step.location, "delay", 0)
        yield Use(step.delay, "delay", owner, loc, (state,), _DELAY, "DGR205")


def _until(step: UntilStep[object], state: Expect, owner: str) -> Iterator[Use]:
    yield Use(step.at, "at", owner, _arg(step.location, "at", 0), (state,), _TIME, "DGR205")


def _poll(step: PollStep[object], state: Expect, owner: str) -> Iterator[Use]:
    loc = _arg(step.location, "check", 0)
    yield Use(step.check, "check", owner, loc, (state,), _BOOL, "DGR212")
    loc = _arg(step.location, "deadline")
    yield Use(step.deadline, "deadline", owner, loc, (state,), _TIME, "DGR205")


def _fail(step: FailStep[object], state: Expect, owner: str) -> Iterator[Use]:
    if not isinstance(step.reason, str):
        loc = _arg(step.location, "reason", 0)
        yield Use(step.reason, "reason", owner, loc, (state,), _REASON, "DGR212")


def _listen(step: ListenStep[object, object], state: Expect, owner: str) -> Iterator[Use]:
    where = step.location
    yield Use(step.match, "match", owner, _arg(where, "match"), (state,), None, "DGR204")
    if step.on is not None:
        message = Expect(step.topic.message, f"the message of {walk.topic_name(step.topic)}")
        yield Use(step.on, "on", owner, _arg(where, "on"), (state, message), state, "DGR207")
    if step.on_timeout is not None:
        loc = _arg(where, "on_timeout")
        yield Use(step.on_timeout, "on_timeout", owner, loc, (state,), state, "DGR207")


_BOOL = Expect(bool, "a condition")
_DELAY = Expect(timedelta, "a delay")
_TIME = Expect(datetime, "a point in time")
_REASON = Expect(str, "a reason")

_BY_KIND: dict[type[object], Callable[[Any, Expect, str], Iterator[Use]]] = {
    CommandStep: _command,
    ListenStep: _listen,
    CallStep: _call,
    DecideStep: _decide,
    SleepStep: _sleep,
    UntilStep: _until,
    PollStep: _poll,
    FailStep: _fail,
}


def result_of(use: Use) -> Known | None:
    """What the callable of `use` returns, when it can be told statically."""
    return returns(use.fn, [p.tp for p in use.params])
