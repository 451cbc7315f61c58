"""A small hand-built compiled workflow for the ops tests: pay, then label in parallel or fail.

Written the way generated modules are (node table, specialised codecs that name the bad
field), so the tests do not depend on the compiler's output.
"""

from __future__ import annotations

import orjson
from attrs import evolve, frozen

from runtime.types import (
    JSON,
    Call,
    Command,
    CompiledWorkflow,
    Decide,
    DecodeError,
    Fail,
    Listen,
    Parallel,
    Process,
    Sequence_,
    TopicSpec,
)


@frozen
class Parcel:
    parcel_id: str
    amount: int
    paid: bool = False
    labels: int = 0
    notified: bool = False


@frozen
class Charge:
    parcel_id: str
    amount: int


@frozen
class Paid:
    parcel_id: str
    ok: bool


def _object(value: JSON, what: str) -> dict[str, JSON]:
    if not isinstance(value, dict):
        raise DecodeError(f"{what}: expected an object, got {type(value).__name__}")
    return value


def _get(doc: dict[str, JSON], where: str, name: str, default: JSON) -> JSON:
    if name in doc:
        return doc[name]
    if default is None:
        raise DecodeError(f"{where}.{name}: missing")
    return default


def _str(doc: dict[str, JSON], where: str, name: str) -> str:
    value = _get(doc, where, name, None)
    if not isinstance(value, str):
        raise DecodeError(f"{where}.{name}: expected a string, got {value!r}")
    return value


def _int(doc: dict[str, JSON], where: str, name: str, default: int | None = None) -> int:
    value = _get(doc, where, name, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise DecodeError(f"{where}.{name}: expected an integer, got {value!r}")
    return value


def _bool(doc: dict[str, JSON], where: str, name: str, default: bool | None = None) -> bool:
    value = _get(doc, where, name, default)
    if not isinstance(value, bool):
        raise DecodeError(f"{where}.{name}: expected true or false, got {value!r}")
    return value


def encode_parcel(p: Parcel) -> JSON:
    return {
        "parcel_id": p.parcel_id,
        "amount": p.amount,
        "paid": p.paid,
        "labels": p.labels,
        "notified": p.notified,
    }


def decode_parcel(value: JSON) -> Parcel:
    doc = _object(value, "Parcel")
    return Parcel(
        parcel_id=_str(doc, "Parcel", "parcel_id"),
        amount=_int(doc, "Parcel", "amount"),
        paid=_bool(doc, "Parcel", "paid", False),
        labels=_int(doc, "Parcel", "labels", 0),
        notified=_bool(doc, "Parcel", "notified", False),
    )


def _loads(raw: bytes, what: str) -> dict[str, JSON]:
    try:
        value: JSON = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"{what}: not JSON ({exc})") from None
    return _object(value, what)


def _encode_charge(m: Charge) -> bytes:
    return orjson.dumps({"parcel_id": m.parcel_id, "amount": m.amount})


def _decode_charge(raw: bytes) -> Charge:
    doc = _loads(raw, "Charge")
    return Charge(_str(doc, "Charge", "parcel_id"), _int(doc, "Charge", "amount"))


def _encode_paid(m: Paid) -> bytes:
    return orjson.dumps({"parcel_id": m.parcel_id, "ok": m.ok})


def _decode_paid(raw: bytes) -> Paid:
    doc = _loads(raw, "Paid")
    return Paid(_str(doc, "Paid", "parcel_id"), _bool(doc, "Paid", "ok"))


def _charge_key(m: Charge) -> str:
    return m.parcel_id


def _paid_key(m: Paid) -> str:
    return m.parcel_id


CHARGES: TopicSpec[Charge] = TopicSpec("ops.charges", _charge_key, _encode_charge, _decode_charge)
PAYMENTS: TopicSpec[Paid] = TopicSpec("ops.paid", _paid_key, _encode_paid, _decode_paid)


def _build_charge(p: Parcel) -> Charge:
    return Charge(p.parcel_id, p.amount)


def _match(p: Parcel) -> str:
    return p.parcel_id


def _on_paid(p: Parcel, m: Paid) -> Parcel:
    return evolve(p, paid=m.ok)


def _is_paid(p: Parcel) -> object:
    return p.paid


def _label(p: Parcel) -> Parcel:
    return evolve(p, labels=p.labels + 1)


async def _notify(p: Parcel) -> Parcel:
    return evolve(p, notified=True)


def _declined(p: Parcel) -> str:
    return f"payment declined for {p.parcel_id}"


def _key(p: Parcel) -> str:
    return p.parcel_id


_LINE = "tests/integration/ops/parcels.py"

ParcelWorkflow: CompiledWorkflow[Parcel] = CompiledWorkflow(
    name="ParcelWorkflow",
    version="ops-test-1",
    source=f"{_LINE}:ParcelWorkflow",
    state_type=Parcel,
    key=_key,
    encode_state=encode_parcel,
    decode_state=decode_parcel,
    nodes=(
        Sequence_(id=0, name="ParcelWorkflow", parent=-1, children=(1, 4, 9)),
        Process(id=1, name="PAY", parent=0, children=(2, 3)),
        Command(id=2, name="command ops.charges", parent=1, topic=CHARGES, build=_build_charge),
        Listen(id=3, name="listen ops.paid", parent=1, topic=PAYMENTS, match=_match, on=_on_paid),
        Decide(
            id=4,
            name="decide paid",
            parent=0,
            choose=_is_paid,
            labels=(True, False),
            children=(5, 8),
        ),
        Parallel(id=5, name="parallel labels", parent=4, children=(6, 7)),
        Call(id=6, name="call label (1)", parent=5, fn=_label),
        Call(id=7, name="call label (2)", parent=5, fn=_label),
        Fail(id=8, name="fail declined", parent=4, reason=_declined),
        Process(id=9, name="NOTIFY", parent=0, children=(10,)),
        Call(id=10, name="call notify", parent=9, fn=_notify),
    ),
    topics=(CHARGES, PAYMENTS),
    graph=(
        "flowchart TD\n  n1[PAY] --> n4{paid}\n  n4 -->|True| n5[labels]\n"
        "  n4 -->|False| n8[declined]\n  n5 --> n9[NOTIFY]"
    ),
)
