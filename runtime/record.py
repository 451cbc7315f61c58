"""The stored form of an instance and its outbox: compact JSON via orjson.

The state goes through the workflow's generated `encode_state`/`decode_state`; bytes go as
base64. `decode` checks every field and raises `DecodeError` naming the one that is wrong.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any, Final, TypeVar

import orjson

from runtime.types import (
    JSON,
    AddWait,
    CancelTimer,
    CompiledWorkflow,
    DecodeError,
    Effect,
    EncodeError,
    Finished,
    Instance,
    NodeRun,
    RemoveWait,
    RunCall,
    Send,
    SetTimer,
    Status,
    StoredInstance,
    TimerRef,
    WaitRef,
)

__all__ = ["FORMAT", "decode", "encode", "to_stored", "unstorable"]

S = TypeVar("S")
T = TypeVar("T")

FORMAT: Final = 1
"""Version of the record layout; bumped on any incompatible change."""

_BLANK: Final = NodeRun()
NOT_STARTED: Final = Status.NOT_STARTED


def encode(wf: CompiledWorkflow[S], instance: Instance[S], outbox: tuple[Effect, ...]) -> bytes:
    """The record's bytes; EncodeError when the state holds a value the codec refuses."""
    try:
        return _dumps(wf, instance, outbox)
    except Exception as exc:  # orjson's (TypeErrors), or the state encoder's own
        why = unstorable(wf, instance.state) or f"{type(exc).__name__}: {exc}"
        raise EncodeError(instance.id, why) from exc


def unstorable(wf: CompiledWorkflow[S], state: S) -> str | None:
    """Why `state` cannot be stored, or None when it can."""
    try:
        orjson.dumps(wf.encode_state(state))
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _dumps(wf: CompiledWorkflow[S], instance: Instance[S], outbox: tuple[Effect, ...]) -> bytes:
    return orjson.dumps(
        {
            "format": FORMAT,
            "id": instance.id,
            "workflow": instance.workflow,
            "version": instance.version,
            "status": instance.status.value,
            "state": wf.encode_state(instance.state),
            "nodes": [_node_run(r) for r in instance.nodes],
            "waits": [(w.topic, w.key, w.node) for w in instance.waits],
            "timers": [(t.timer_id, t.node, t.due) for t in instance.timers],
            "applied": instance.applied,
            "created_at": instance.created_at,
            "updated_at": instance.updated_at,
            "error": instance.error,
            "outbox": [_effect(e) for e in outbox],
        }
    )


def to_stored(
    wf: CompiledWorkflow[S],
    instance: Instance[S],
    outbox: tuple[Effect, ...],
    *,
    generation: int,
    retention: float | None,
) -> StoredInstance:
    """The store's view of `instance`; a finished one expires `retention` seconds after it ended."""
    expires = None
    if instance.status.finished and retention is not None:
        expires = instance.updated_at + retention
    return StoredInstance(
        id=instance.id,
        workflow=instance.workflow,
        status=instance.status.value,
        data=encode(wf, instance, outbox),
        generation=generation,
        updated_at=instance.updated_at,
        outbox=bool(outbox),
        expires_at=expires,
    )


def _node_run(r: NodeRun) -> tuple[str, float | None, float | None, int, str | None] | None:
    """None for a node not started (as `_BLANK`); the status goes as the str it is (a StrEnum
    member: orjson writes its value, and `.value` costs a descriptor call per node)."""
    status = r.status
    if status is NOT_STARTED and r == _BLANK:
        return None
    return (status, r.started_at, r.ended_at, r.attempt, r.detail)


def _effect(e: Effect) -> tuple[JSON, ...]:
    return _ENCODERS[type(e)](e)


def _encode_send(e: Send) -> tuple[JSON, ...]:
    return ("send", e.topic, e.key, base64.b64encode(e.value).decode("ascii"), e.message_id)


_ENCODERS: Final[dict[type, Callable[[Any], tuple[JSON, ...]]]] = {
    Send: _encode_send,
    AddWait: lambda e: ("add_wait", e.topic, e.key),
    RemoveWait: lambda e: ("remove_wait", e.topic, e.key),
    SetTimer: lambda e: ("set_timer", e.timer_id, e.due),
    CancelTimer: lambda e: ("cancel_timer", e.timer_id),
    RunCall: lambda e: ("run_call", e.node, e.attempt),
    Finished: lambda e: ("finished", e.status.value),
}


# --------------------------------------------------------------------------- decoding


def decode(wf: CompiledWorkflow[S], data: bytes) -> tuple[Instance[S], tuple[Effect, ...]]:
    """The instance and outbox `encode` wrote; DecodeError when `data` is not such a record."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"instance record of {wf.name} is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise DecodeError(f"instance record of {wf.name} must be an object (got {_kind(doc)})")
    fmt = doc.get("format")
    if fmt != FORMAT:
        raise DecodeError(f"instance record format {fmt!r} is not {FORMAT}")
    return _instance(wf, doc), tuple(_list(doc, "outbox", _decode_effect))


def _instance(wf: CompiledWorkflow[S], doc: dict[str, Any]) -> Instance[S]:
    ident, workflow, version = _str(doc, "id"), _str(doc, "workflow"), _str(doc, "version")
    if workflow != wf.name or version != wf.version:
        raise DecodeError(
            f"instance {ident} was recorded by {workflow} version {version}, "
            f"not {wf.name} version {wf.version}"
        )
    nodes = _node_runs(doc)
    if len(nodes) != len(wf.nodes):
        raise DecodeError(
            f"instance {ident} has {len(nodes)} node runs; {wf.name} has {len(wf.nodes)}"
        )
    return Instance(
        id=ident,
        workflow=workflow,
        version=version,
        status=_status(_str(doc, "status"), "status"),
        state=_state(wf, ident, doc),
        nodes=nodes,
        waits=tuple(_list(doc, "waits", _decode_wait)),
        timers=tuple(_list(doc, "timers", _decode_timer)),
        applied=tuple(_list(doc, "applied", _as_str)),
        created_at=_number(doc.get("created_at"), "created_at"),
        updated_at=_number(doc.get("updated_at"), "updated_at"),
        error=_optional_str(doc.get("error"), "error"),
    )


def _state(wf: CompiledWorkflow[S], ident: str, doc: dict[str, Any]) -> S:
    if "state" not in doc:
        raise DecodeError(f"instance {ident}: field 'state' is missing")
    try:
        return wf.decode_state(doc["state"])
    except DecodeError:
        raise
    except (TypeError, ValueError, KeyError) as exc:
        raise DecodeError(f"instance {ident}: field 'state': {type(exc).__name__}: {exc}") from exc


def _node_runs(doc: dict[str, Any]) -> tuple[NodeRun, ...]:
    """The node runs; the usual well-formed ones are read without naming each field's place
    (a record is decoded whenever another process wrote it last); anything else goes through
    the checks that say what is wrong and where."""
    items = doc.get("nodes")
    if type(items) is list:
        runs = [_well_formed_node_run(item) for item in items]
        if None not in runs:
            return tuple(r for r in runs if r is not None)
    return tuple(_list(doc, "nodes", _decode_node_run))


_STATUSES: Final = {s.value: s for s in Status}
_NUMBERS: Final = (int, float)  # `type(x) in` leaves out bool, as `_number` does


def _well_formed_node_run(item: object) -> NodeRun | None:
    if item is None:
        return _BLANK
    if type(item) is not list or len(item) != 5:
        return None
    status, started, ended, attempt, detail = item
    state = _STATUSES.get(status) if type(status) is str else None
    if (
        state is None
        or not (started is None or type(started) in _NUMBERS)
        or not (ended is None or type(ended) in _NUMBERS)
        or type(attempt) is not int
        or not (detail is None or type(detail) is str)
    ):
        return None
    return NodeRun(
        state,
        None if started is None else float(started),
        None if ended is None else float(ended),
        attempt,
        detail,
    )


def _decode_node_run(item: object, where: str) -> NodeRun:
    if item is None:
        return _BLANK
    status, started, ended, attempt, detail = _tuple(item, 5, where)
    return NodeRun(
        status=_status(_as_str(status, where), where),
        started_at=_optional_number(started, where),
        ended_at=_optional_number(ended, where),
        attempt=_int(attempt, where),
        detail=_optional_str(detail, where),
    )


def _decode_wait(item: object, where: str) -> WaitRef:
    topic, key, node = _tuple(item, 3, where)
    return WaitRef(_as_str(topic, where), _as_str(key, where), _int(node, where))


def _decode_timer(item: object, where: str) -> TimerRef:
    timer_id, node, due = _tuple(item, 3, where)
    return TimerRef(_as_str(timer_id, where), _int(node, where), _number(due, where))


def _decode_effect(item: object, where: str) -> Effect:
    if not isinstance(item, list) or not item:
        raise DecodeError(f"{where} must be a non-empty array (got {_kind(item)})")
    tag, *args = item
    parse = _EFFECTS.get(tag) if isinstance(tag, str) else None
    if parse is None:
        raise DecodeError(f"{where} has unknown effect kind {tag!r}")
    return parse(args, where)


def _send(a: list[object], w: str) -> Effect:
    topic, key, value, message_id = _tuple(a, 4, w)
    try:
        raw = base64.b64decode(_as_str(value, w), validate=True)
    except binascii.Error as exc:
        raise DecodeError(f"{w}: value is not base64: {exc}") from exc
    return Send(_as_str(topic, w), _as_str(key, w), raw, _as_str(message_id, w))


def _pair(a: list[object], w: str) -> tuple[str, str]:
    topic, key = _tuple(a, 2, w)
    return _as_str(topic, w), _as_str(key, w)


_EFFECTS: Final[dict[str, Callable[[list[object], str], Effect]]] = {
    "send": _send,
    "add_wait": lambda a, w: AddWait(*_pair(a, w)),
    "remove_wait": lambda a, w: RemoveWait(*_pair(a, w)),
    "set_timer": lambda a, w: SetTimer(_as_str(_tuple(a, 2, w)[0], w), _number(a[1], w)),
    "cancel_timer": lambda a, w: CancelTimer(_as_str(_tuple(a, 1, w)[0], w)),
    "run_call": lambda a, w: RunCall(_int(_tuple(a, 2, w)[0], w), _int(a[1], w)),
    "finished": lambda a, w: Finished(_status(_as_str(_tuple(a, 1, w)[0], w), w)),
}

# --------------------------------------------------------------------------- field readers


def _list(doc: dict[str, Any], name: str, item: Callable[[object, str], T]) -> list[T]:
    value = doc.get(name)
    if not isinstance(value, list):
        raise DecodeError(f"instance record field {name!r} must be an array (got {_kind(value)})")
    return [item(x, f"{name}[{i}]") for i, x in enumerate(value)]


def _tuple(item: object, size: int, where: str) -> list[object]:
    if not isinstance(item, list) or len(item) != size:
        raise DecodeError(f"{where} must be an array of {size} items (got {_kind(item)})")
    return item


def _str(doc: dict[str, Any], name: str) -> str:
    return _as_str(doc.get(name), name)


def _as_str(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise DecodeError(f"{where} must be a string (got {_kind(value)})")
    return value


def _optional_str(value: object, where: str) -> str | None:
    return None if value is None else _as_str(value, where)


def _int(value: object, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise DecodeError(f"{where} must be an integer (got {_kind(value)})")
    return value


def _number(value: object, where: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise DecodeError(f"{where} must be a number (got {_kind(value)})")
    return float(value)


def _optional_number(value: object, where: str) -> float | None:
    return None if value is None else _number(value, where)


def _status(value: str, where: str) -> Status:
    status = _STATUSES.get(value)
    if status is None:
        raise DecodeError(f"{where}: {value!r} is not a status")
    return status


def _kind(value: object) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:40]}{'...' if len(text) > 40 else ''}"
