"""What each kind of node does when it starts, when its timer fires, and when a call returns."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Final, TypeAlias

from runtime.machine_calls import on_retry_timer, run_attempt
from runtime.machine_run import Run, UserError, guarded
from runtime.types import (
    Call,
    Command,
    Decide,
    Fail,
    Listen,
    Node,
    NodeRun,
    Parallel,
    Poll,
    Process,
    Send,
    Sequence_,
    Sleep,
    Status,
    Until,
    WaitRef,
)

AnyRun: TypeAlias = Run[Any]
Handler: TypeAlias = Callable[[AnyRun, Any], None]


def activate(run: AnyRun, node: Node[Any]) -> None:
    """Start `node` (its status is NOT_STARTED and its parent runs)."""
    ACTIVATE[type(node)](run, node)


def on_timer(run: AnyRun, node: Node[Any]) -> None:
    """A timer held by the running `node` fired (and was already taken off the instance)."""
    handler = ON_TIMER.get(type(node))
    if handler is not None:
        handler(run, node)


# --------------------------------------------------------------------------- activation


def _sequence(run: AnyRun, node: Sequence_[Any]) -> None:
    run.begin(node.id)
    if node.children:
        run.stack.append(node.children[0])
    else:
        run.complete(node.id)


def _process(run: AnyRun, node: Process[Any]) -> None:
    run.begin(node.id)
    if node.timeout is not None:
        run.set_timer(f"timeout:{node.id}", node.id, run.now + node.timeout)
    if node.children:
        run.stack.append(node.children[0])
    else:
        run.complete(node.id)


def _command(run: AnyRun, node: Command[Any, Any]) -> None:
    n = node.id
    run.begin(n, 1)
    topic = node.topic
    message = guarded(node, node.build, run.state)
    key = _text(node, "the topic's key", guarded(node, topic.key, message))
    value = guarded(node, topic.encode, message)
    limit = run.max_message
    if limit is not None and len(value) > limit:
        raise UserError(
            n,
            f"node {node.name}: its {topic.name} message is {len(value):,} bytes encoded; "
            f"the broker takes at most {limit:,}",
        )
    run.effects.append(Send(topic.name, key, value, f"{run.id}/{n}/1"))
    run.complete(n)


def _listen(run: AnyRun, node: Listen[Any, Any]) -> None:
    n = node.id
    run.begin(n)
    own = run.key if node.by_key else None  # match is the workflow's key: the run's own
    key = own if own is not None else _text(node, "match", guarded(node, node.match, run.state))
    run.add_wait(WaitRef(node.topic.name, key, n), direct=own is not None)
    if node.timeout is not None:
        run.set_timer(f"timeout:{n}", n, run.now + node.timeout)


def _call(run: AnyRun, node: Call[Any]) -> None:
    run.begin(node.id, 1)
    run_attempt(run, node, 1)


def _decide(run: AnyRun, node: Decide[Any]) -> None:
    n = node.id
    run.begin(n)
    label = guarded(node, node.choose, run.state)
    try:
        chosen = node.labels.index(label)
    except ValueError:
        known = ", ".join(repr(known) for known in node.labels)
        run.fail(
            n,
            f"decide {node.name}: choose returned {label!r}, which is none of its labels ({known})",
        )
        return
    for position, child in enumerate(node.children):
        if position != chosen:
            run.halt(run.plan.subtree[child])
    run.stack.append(node.children[chosen])


def _parallel(run: AnyRun, node: Parallel[Any]) -> None:
    run.begin(node.id)
    if node.children:
        run.stack.extend(reversed(node.children))
    else:
        run.complete(node.id)


def _sleep(run: AnyRun, node: Sleep[Any]) -> None:
    run.begin(node.id)
    delay = guarded(node, node.delay, run.state)
    run.set_timer(f"sleep:{node.id}", node.id, run.now + delay.total_seconds())


def _until(run: AnyRun, node: Until[Any]) -> None:
    run.begin(node.id)
    due = _timestamp(node, "at", guarded(node, node.at, run.state))
    run.set_timer(f"until:{node.id}", node.id, due)


def _poll(run: AnyRun, node: Poll[Any]) -> None:
    run.begin(node.id, 1)
    _poll_check(run, node)


def _poll_check(run: AnyRun, node: Poll[Any]) -> None:
    n = node.id
    if guarded(node, node.check, run.state):
        run.complete(n)
        return
    deadline = _timestamp(node, "deadline", guarded(node, node.deadline, run.state))
    if run.now >= deadline:
        run.fail(n, f"poll {node.name} passed its deadline")
        return
    attempt = run.runs[n].attempt
    run.set_timer(f"poll:{n}:{attempt}", n, min(run.now + node.every, deadline))


def _fail(run: AnyRun, node: Fail[Any]) -> None:
    run.begin(node.id)
    run.fail(node.id, str(guarded(node, node.reason, run.state)))


ACTIVATE: Final[dict[type, Handler]] = {
    Sequence_: _sequence,
    Process: _process,
    Command: _command,
    Listen: _listen,
    Call: _call,
    Decide: _decide,
    Parallel: _parallel,
    Sleep: _sleep,
    Until: _until,
    Poll: _poll,
    Fail: _fail,
}

# --------------------------------------------------------------------------- timers


def _process_timeout(run: AnyRun, node: Process[Any]) -> None:
    run.halt(run.plan.subtree[node.id][1:])
    run.complete(node.id, "timed out")


def _listen_timeout(run: AnyRun, node: Listen[Any, Any]) -> None:
    if node.on_timeout is None:
        run.fail(node.id, f"listener {node.name} timed out after {node.timeout:g} s")
        return
    run.state = guarded(node, node.on_timeout, run.state)
    run.complete(node.id, "timed out")


def _ring(run: AnyRun, node: Sleep[Any] | Until[Any]) -> None:
    run.complete(node.id)


def _poll_again(run: AnyRun, node: Poll[Any]) -> None:
    previous = run.runs[node.id]
    run.runs[node.id] = NodeRun(
        Status.EXECUTING, previous.started_at, None, previous.attempt + 1, None
    )
    _poll_check(run, node)


ON_TIMER: Final[dict[type, Handler]] = {
    Process: _process_timeout,
    Listen: _listen_timeout,
    Call: on_retry_timer,
    Sleep: _ring,
    Until: _ring,
    Poll: _poll_again,
}

# --------------------------------------------------------------------------- checks on user values


def _text(node: Node[Any], what: str, value: object) -> str:
    if isinstance(value, str):
        return value
    raise _user_error(node, f"{what} returned {type(value).__name__} {value!r}, not a str")


def _timestamp(node: Node[Any], what: str, value: object) -> float:
    if not isinstance(value, datetime):
        raise _user_error(node, f"{what} returned {type(value).__name__} {value!r}, not a datetime")
    if value.utcoffset() is None:
        raise _user_error(
            node, f"{what} returned a naive datetime {value.isoformat()}; give it a tzinfo"
        )
    return value.timestamp()


def _user_error(node: Node[Any], problem: str) -> UserError:
    return UserError(node.id, f"node {node.name}: {problem}")
