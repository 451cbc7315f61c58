"""Small hand-built workflows for engine tests, shaped as generated modules shape them.

    wf = workflow("W", process("P", command(REQUESTS), listen(REPLIES)))

numbers the nodes in pre-order (the root Sequence_ first), fills `parent` and `children`, and gives
every node a unique name (`command1`, `listen2`, ...), which `node_names(wf)` lists.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Literal

import orjson
from attrs import evolve, frozen

from runtime.types import (
    JSON,
    Call,
    Command,
    CompiledWorkflow,
    Decide,
    Fail,
    Listen,
    Node,
    Parallel,
    Poll,
    Process,
    RetryPolicy,
    Sequence_,
    Sleep,
    TopicSpec,
    Until,
)


@frozen
class Doc:
    """The state of every test workflow."""

    key: str
    n: int = 0
    seen: tuple[str, ...] = ()
    route: str = "a"
    box: str = ""


@frozen
class Msg:
    key: str
    text: str = ""


def _decode_msg(data: bytes) -> Msg:
    doc = orjson.loads(data)
    if not isinstance(doc, dict) or not isinstance(doc.get("key"), str):
        raise ValueError(f"not a Msg: {data[:40]!r}")
    return Msg(doc["key"], str(doc.get("text", "")))


def topic(name: str) -> TopicSpec[Msg]:
    return TopicSpec(
        name=name,
        key=lambda m: m.key,
        encode=lambda m: orjson.dumps({"key": m.key, "text": m.text}),
        decode=_decode_msg,
    )


def note(d: Doc, m: Msg) -> Doc:
    return evolve(d, seen=(*d.seen, m.text))


def _encode_doc(d: Doc) -> JSON:
    return {"key": d.key, "n": d.n, "seen": list(d.seen), "route": d.route, "box": d.box}


def _decode_doc(j: JSON) -> Doc:
    assert isinstance(j, dict)
    seen = j["seen"]
    assert isinstance(seen, list)
    return Doc(
        str(j["key"]), int(str(j["n"])), tuple(map(str, seen)), str(j["route"]), str(j["box"])
    )


# --------------------------------------------------------------------------- specs

Make = Callable[[int, int, tuple[int, ...], str], Node[Doc]]
_counter = itertools.count(1)


@frozen
class Spec:
    kind: str
    make: Make
    children: tuple[Spec, ...] = ()


def process(name: str, *steps: Spec, timeout: float | None = None) -> Spec:
    return Spec(
        "process",
        lambda i, p, c, _n: Process(id=i, name=name, parent=p, children=c, timeout=timeout),
        steps,
    )


def command(t: TopicSpec[Msg], build: Callable[[Doc], Msg] = lambda d: Msg(d.key)) -> Spec:
    return Spec("command", lambda i, p, c, n: Command(id=i, name=n, parent=p, topic=t, build=build))


def listen(
    t: TopicSpec[Msg],
    match: Callable[[Doc], str] = lambda d: d.key,
    on: Callable[[Doc, Msg], Doc] | None = note,
    timeout: float | None = None,
    on_timeout: Callable[[Doc], Doc] | None = None,
    *,
    by_key: bool = False,
) -> Spec:
    """A listener; `by_key` marks it as the compiler marks one whose match is the workflow's
    key (every test workflow's key is `d.key`, the default match)."""
    return Spec(
        "listen",
        lambda i, p, c, n: Listen(
            id=i,
            name=n,
            parent=p,
            topic=t,
            match=match,
            on=on,
            timeout=timeout,
            on_timeout=on_timeout,
            by_key=by_key,
        ),
    )


def call(
    fn: Callable[[Doc], Any],
    attempts: int = 1,
    timeout: float | None = None,
    on_error: Callable[[Doc, str], Doc] | None = None,
) -> Spec:
    retry = RetryPolicy(attempts=attempts, initial=0.01, multiplier=1.0, maximum=0.01, jitter=0.0)
    return Spec(
        "call",
        lambda i, p, c, n: Call(
            id=i, name=n, parent=p, fn=fn, retry=retry, timeout=timeout, on_error=on_error
        ),
    )


def decide(choose: Callable[[Doc], object], branches: Mapping[object, Spec]) -> Spec:
    labels = tuple(branches)
    return Spec(
        "decide",
        lambda i, p, c, n: Decide(id=i, name=n, parent=p, choose=choose, labels=labels, children=c),
        tuple(branches.values()),
    )


def flow(*steps: Spec) -> Spec:
    return Spec("flow", lambda i, p, c, n: Sequence_(id=i, name=n, parent=p, children=c), steps)


def parallel(*branches: Spec, join: Literal["all", "any"] = "all") -> Spec:
    return Spec(
        "parallel",
        lambda i, p, c, n: Parallel(id=i, name=n, parent=p, children=c, join=join),
        branches,
    )


def sleep(seconds: float) -> Spec:
    delay = timedelta(seconds=seconds)
    return Spec("sleep", lambda i, p, c, n: Sleep(id=i, name=n, parent=p, delay=lambda d: delay))


def until(at: Callable[[Doc], datetime]) -> Spec:
    return Spec("until", lambda i, p, c, n: Until(id=i, name=n, parent=p, at=at))


def poll(check: Callable[[Doc], bool], every: float, deadline: Callable[[Doc], datetime]) -> Spec:
    return Spec(
        "poll",
        lambda i, p, c, n: Poll(
            id=i, name=n, parent=p, check=check, every=every, deadline=deadline
        ),
    )


def fail(reason: Callable[[Doc], str]) -> Spec:
    return Spec("fail", lambda i, p, c, n: Fail(id=i, name=n, parent=p, reason=reason))


def workflow(name: str, *processes: Spec) -> CompiledWorkflow[Doc]:
    nodes: list[Node[Doc]] = []
    root = Spec(
        "root", lambda i, p, c, _n: Sequence_(id=i, name=name, parent=p, children=c), processes
    )
    _number(root, -1, nodes)
    return CompiledWorkflow(
        name=name,
        version="v1",
        source=f"tests/unit/engine:{name}",
        state_type=Doc,
        key=lambda d: d.key,
        encode_state=_encode_doc,
        decode_state=_decode_doc,
        nodes=tuple(nodes),
        topics=(),
    )


def _number(spec: Spec, parent: int, nodes: list[Node[Doc]]) -> int:
    me = len(nodes)
    nodes.append(None)  # type: ignore[arg-type]  # placeholder until the children are numbered
    children = tuple(_number(child, me, nodes) for child in spec.children)
    nodes[me] = spec.make(me, parent, children, f"{spec.kind}{next(_counter)}")
    return me


def node_names(wf: CompiledWorkflow[Doc]) -> dict[str, int]:
    return {n.name: n.id for n in wf.nodes}
