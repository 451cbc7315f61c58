"""The stored record: round trips, strict decoding, and the store's view."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.machine import apply, start
from runtime.record import decode, encode, to_stored
from runtime.types import (
    AddWait,
    CancelTimer,
    DecodeError,
    Effect,
    Finished,
    Instance,
    NodeRun,
    RemoveWait,
    RunCall,
    Send,
    SetTimer,
    Status,
    TimerRef,
    WaitRef,
)

from .builders import (
    Doc,
    Msg,
    call,
    cancel,
    command,
    ids,
    listen,
    parallel,
    process,
    topic,
    workflow,
)

OUT = topic("OUT")
PACKED = topic("PACKED")
WF = workflow(
    process(
        "P",
        command("go", OUT, lambda d: Msg(d.key, "go")),
        parallel("both", listen("packed", PACKED, timeout=60), call("work")),
    )
)
ALL_EFFECTS: tuple[Effect, ...] = (
    Send("OUT", "k", b"\x00\xffbytes", "W:k/2/1"),
    AddWait("PACKED", "k"),
    RemoveWait("PACKED", "k"),
    SetTimer("timeout:4", 61.5),
    CancelTimer("timeout:4"),
    RunCall(5, 2),
    Finished(Status.STOPPED),
)


def test_a_running_instance_and_its_outbox_survive_a_round_trip() -> None:
    t = start(WF, Doc("k", seen=("a", "b")), now=1.5)
    data = encode(WF, t.instance, ALL_EFFECTS)
    assert decode(WF, data) == (t.instance, ALL_EFFECTS)


def test_a_decoded_instance_carries_on_as_the_original_would() -> None:
    t = start(WF, Doc("k"), now=1.5)
    restored, _ = decode(WF, encode(WF, t.instance, t.effects))
    ev = cancel(eid="c1")
    assert apply(WF, restored, ev, now=2.0) == apply(WF, t.instance, ev, now=2.0)


statuses_ = st.sampled_from(list(Status))
floats = st.floats(allow_nan=False, allow_infinity=False)
texts = st.text(max_size=12)
node_runs = st.builds(
    NodeRun,
    status=statuses_,
    started_at=st.none() | floats,
    ended_at=st.none() | floats,
    attempt=st.integers(min_value=0, max_value=2**40),
    detail=st.none() | texts,
)
effects = st.one_of(
    st.builds(Send, texts, texts, st.binary(max_size=20), texts),
    st.builds(AddWait, texts, texts),
    st.builds(RemoveWait, texts, texts),
    st.builds(SetTimer, texts, floats),
    st.builds(CancelTimer, texts),
    st.builds(RunCall, st.integers(0, 100), st.integers(1, 100)),
    st.builds(Finished, statuses_),
)


@st.composite
def instances(draw: st.DrawFn) -> Instance[Doc]:
    return Instance(
        id=draw(texts),
        workflow=WF.name,
        version=WF.version,
        status=draw(statuses_),
        state=Doc(
            draw(texts), n=draw(st.integers(-(2**60), 2**60)), seen=tuple(draw(st.lists(texts)))
        ),
        nodes=tuple(draw(node_runs) for _ in WF.nodes),
        waits=tuple(draw(st.lists(st.builds(WaitRef, texts, texts, st.integers(0, 9))))),
        timers=tuple(draw(st.lists(st.builds(TimerRef, texts, st.integers(0, 9), floats)))),
        applied=tuple(draw(st.lists(texts))),
        created_at=draw(floats),
        updated_at=draw(floats),
        error=draw(st.none() | texts),
    )


@settings(deadline=None)  # a shared machine can stall any single example
@given(instances(), st.lists(effects, max_size=8))
def test_any_instance_and_outbox_round_trip(instance: Instance[Doc], outbox: list[Effect]) -> None:
    assert decode(WF, encode(WF, instance, tuple(outbox))) == (instance, tuple(outbox))


def _doc() -> dict[str, Any]:
    t = start(WF, Doc("k"), now=1.0)
    loaded = orjson.loads(encode(WF, t.instance, ALL_EFFECTS))
    assert isinstance(loaded, dict)
    return loaded


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(format=99), "instance record format 99 is not 1"),
        (lambda d: d.pop("id"), "id must be a string (got NoneType None)"),
        (lambda d: d.update(status="DONE"), "status: 'DONE' is not a status"),
        (lambda d: d.update(version="v0"), "recorded by W version v0, not W version v1"),
        (lambda d: d.update(nodes=[None]), "has 1 node runs; W has 6"),
        (
            lambda d: d["nodes"].__setitem__(1, ["EXECUTING", 1.0]),
            "nodes[1] must be an array of 5 items",
        ),
        (
            lambda d: d["nodes"].__setitem__(2, ["RUNNING", None, None, 0, None]),
            "nodes[2]: 'RUNNING' is not a status",
        ),
        (
            lambda d: d["nodes"].__setitem__(3, ["EXECUTING", "1.0", None, 0, None]),
            "nodes[3] must be a number (got str '1.0')",
        ),
        (
            lambda d: d["nodes"].__setitem__(4, ["COMPLETED", 1.0, 2.0, True, None]),
            "nodes[4] must be an integer (got bool True)",
        ),
        (
            lambda d: d["nodes"].__setitem__(5, ["COMPLETED", 1.0, 2.0, 0, 7]),
            "nodes[5] must be a string (got int 7)",
        ),
        (lambda d: d.update(waits=[["T", "k", "1"]]), "waits[0] must be an integer (got str '1')"),
        (lambda d: d.update(timers=[["t", 1, True]]), "timers[0] must be a number (got bool True)"),
        (
            lambda d: d.update(outbox=[["send", "T", "k", "**", "id"]]),
            "outbox[0]: value is not base64",
        ),
        (lambda d: d.update(outbox=[["explode"]]), "outbox[0] has unknown effect kind 'explode'"),
        (
            lambda d: d.update(state={"key": "k", "seen": [], "bogus": 1}),
            "field 'state': TypeError",
        ),
        (lambda d: d.pop("state"), "field 'state' is missing"),
    ],
)
def test_bad_records_raise_decode_error_naming_the_field(
    change: Callable[[dict[str, Any]], object], message: str
) -> None:
    doc = _doc()
    change(doc)
    with pytest.raises(DecodeError) as caught:
        decode(WF, orjson.dumps(doc))
    assert message in str(caught.value)


@pytest.mark.parametrize("data", [b"", b"not json", b"[1, 2]", b"\xff\xfe"])
def test_bytes_that_are_no_record_raise_decode_error(data: bytes) -> None:
    with pytest.raises(DecodeError, match="instance record of W"):
        decode(WF, data)


def test_to_stored_flags_the_outbox_and_expires_only_finished_instances() -> None:
    running = start(WF, Doc("k"), now=1.0)
    stored = to_stored(WF, running.instance, running.effects, generation=3, retention=86400)
    assert (stored.id, stored.workflow, stored.status) == ("W:k", "W", "EXECUTING")
    assert (stored.generation, stored.outbox, stored.expires_at, stored.updated_at) == (
        3,
        True,
        None,
        1.0,
    )
    assert decode(WF, stored.data) == (running.instance, running.effects)

    done = apply(WF, running.instance, cancel(), now=9.0)
    kept = to_stored(WF, done.instance, (), generation=4, retention=60)
    assert (kept.status, kept.outbox, kept.expires_at) == ("STOPPED", False, 69.0)
    forever = to_stored(WF, done.instance, (), generation=4, retention=None)
    assert forever.expires_at is None


def test_the_node_table_used_in_these_tests_is_the_one_described() -> None:
    assert list(ids(WF)) == ["W", "P", "go", "both", "packed", "work"]
