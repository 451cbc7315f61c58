"""Hand-built node tables for machine tests, shaped exactly as generated modules shape them.

`workflow(process("P", command(...), listen(...)))` numbers the nodes in pre-order (parents
before children, the root Sequence_ first), fills in `parent` and `children`, and returns a
`CompiledWorkflow[Doc]`. Every node gets a name unique in its workflow so tests can say
`ids["pay"]` instead of counting.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Literal, TypeVar

import orjson
from attrs import asdict, evolve, frozen

from runtime.types import (
    JSON,
    Call,
    CallFinished,
    Cancel,
    Command,
    CompiledWorkflow,
    Decide,
    Effect,
    Fail,
    Instance,
    Listen,
    MessageArrived,
    Node,
    Parallel,
    Poll,
    Process,
    RetryPolicy,
    Sequence_,
    Sleep,
    Status,
    TimerFired,
    TopicSpec,
    Until,
)


@frozen
class Doc:
    """The state every test workflow runs over."""

    key: str
    n: int = 0
    seen: tuple[str, ...] = ()
    flag: bool = False
    route: str = "a"
    box: str = "box-1"


@frozen
class Msg:
    key: str
    text: str = ""


def topic(name: str) -> TopicSpec[Msg]:
    return TopicSpec(
        name=name,
        key=lambda m: m.key,
        encode=lambda m: orjson.dumps({"key": m.key, "text": m.text}),
        decode=lambda b: Msg(**orjson.loads(b)),
    )


def note(d: Doc, m: Msg) -> Doc:
    """An `on` that records what arrived."""
    return evolve(d, seen=(*d.seen, m.text))


def encode_doc(d: Doc) -> JSON:
    return {**asdict(d, recurse=False), "seen": list(d.seen)}


def decode_doc(j: JSON) -> Doc:
    assert isinstance(j, dict)
    seen = j.pop("seen")
    assert isinstance(seen, list)
    return Doc(**j, seen=tuple(str(s) for s in seen))  # type: ignore[arg-type]


E = TypeVar("E")
L = TypeVar("L")
DEFAULT_RETRY = RetryPolicy()

# --------------------------------------------------------------------------- specs

Make = Callable[[int, int, tuple[int, ...]], Node[Doc]]


@frozen
class Spec:
    """A node before numbering: `make(id, parent, child_ids)` builds it."""

    make: Make
    children: tuple[Spec, ...] = ()


def workflow(*processes: Spec, name: str = "W", version: str = "v1") -> CompiledWorkflow[Doc]:
    root = Spec(lambda i, p, c: Sequence_(id=i, name=name, parent=p, children=c), processes)
    nodes: list[Node[Doc]] = []
    _number(root, -1, nodes)
    return CompiledWorkflow(
        name=name,
        version=version,
        source=f"tests/unit/machine:{name}",
        state_type=Doc,
        key=lambda d: d.key,
        encode_state=encode_doc,
        decode_state=decode_doc,
        nodes=tuple(nodes),
        topics=(),
    )


def _number(spec: Spec, parent: int, out: list[Node[Doc]]) -> int:
    me = len(out)
    out.append(Sequence_(id=me, name="placeholder", parent=parent, children=()))
    kids = tuple(_number(child, me, out) for child in spec.children)
    out[me] = spec.make(me, parent, kids)
    return me


def ids(wf: CompiledWorkflow[Doc]) -> dict[str, int]:
    return {node.name: node.id for node in wf.nodes}


def flow(name: str, *items: Spec) -> Spec:
    return Spec(lambda i, p, c: Sequence_(id=i, name=name, parent=p, children=c), items)


def process(name: str, *steps: Spec, timeout: float | None = None) -> Spec:
    return Spec(
        lambda i, p, c: Process(id=i, name=name, parent=p, children=c, timeout=timeout), steps
    )


def command(name: str, to: TopicSpec[Msg], build: Callable[[Doc], Msg]) -> Spec:
    return Spec(lambda i, p, c: Command(id=i, name=name, parent=p, topic=to, build=build))


def listen(
    name: str,
    on_topic: TopicSpec[Msg],
    match: Callable[[Doc], str] = lambda d: d.key,
    *,
    on: Callable[[Doc, Msg], Doc] | None = note,
    timeout: float | None = None,
    on_timeout: Callable[[Doc], Doc] | None = None,
    by_key: bool = False,
) -> Spec:
    return Spec(
        lambda i, p, c: Listen(
            id=i,
            name=name,
            parent=p,
            topic=on_topic,
            match=match,
            on=on,
            timeout=timeout,
            on_timeout=on_timeout,
            by_key=by_key,
        )
    )


def call(
    name: str,
    *,
    retry: RetryPolicy = DEFAULT_RETRY,
    on_error: Callable[[Doc, str], Doc] | None = None,
) -> Spec:
    return Spec(
        lambda i, p, c: Call(
            id=i, name=name, parent=p, fn=lambda d: d, retry=retry, on_error=on_error
        )
    )


def decide(name: str, choose: Callable[[Doc], object], branches: Mapping[L, Spec]) -> Spec:
    labels = tuple(branches)
    return Spec(
        lambda i, p, c: Decide(id=i, name=name, parent=p, choose=choose, labels=labels, children=c),
        tuple(branches.values()),
    )


def parallel(name: str, *branches: Spec, join: Literal["all", "any"] = "all") -> Spec:
    return Spec(
        lambda i, p, c: Parallel(id=i, name=name, parent=p, children=c, join=join), branches
    )


def sleep(name: str, delay: timedelta | Callable[[Doc], timedelta]) -> Spec:
    fn = delay if callable(delay) else (lambda d: delay)
    return Spec(lambda i, p, c: Sleep(id=i, name=name, parent=p, delay=fn))


def until(name: str, at: Callable[[Doc], datetime]) -> Spec:
    return Spec(lambda i, p, c: Until(id=i, name=name, parent=p, at=at))


def poll(
    name: str, check: Callable[[Doc], bool], every: float, deadline: Callable[[Doc], datetime]
) -> Spec:
    return Spec(
        lambda i, p, c: Poll(id=i, name=name, parent=p, check=check, every=every, deadline=deadline)
    )


def fail(name: str, reason: Callable[[Doc], str]) -> Spec:
    return Spec(lambda i, p, c: Fail(id=i, name=name, parent=p, reason=reason))


# --------------------------------------------------------------------------- events and views

_ids = itertools.count(1)


def _eid(given: str | None) -> str:
    return given if given is not None else f"e{next(_ids)}"


def arrive(
    on_topic: TopicSpec[Msg], key: str, text: str = "", eid: str | None = None
) -> MessageArrived:
    return MessageArrived(_eid(eid), on_topic.name, key, Msg(key, text))


def fire(timer_id: str, eid: str | None = None) -> TimerFired:
    return TimerFired(_eid(eid), timer_id)


def returned(node: int, attempt: int, state: object, eid: str | None = None) -> CallFinished:
    return CallFinished(_eid(eid), node, attempt, state=state)


def raised(node: int, attempt: int, error: str, eid: str | None = None) -> CallFinished:
    return CallFinished(_eid(eid), node, attempt, error=error)


def cancel(reason: str = "cancelled", eid: str | None = None) -> Cancel:
    return Cancel(_eid(eid), reason)


def statuses(wf: CompiledWorkflow[Doc], instance: Instance[Doc]) -> dict[str, Status]:
    return {node.name: run.status for node, run in zip(wf.nodes, instance.nodes, strict=True)}


def of_type(effects: tuple[Effect, ...], kind: type[E]) -> list[E]:
    return [e for e in effects if isinstance(e, kind)]
