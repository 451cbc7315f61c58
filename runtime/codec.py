"""Helpers the generated encoders and decoders call: small, typed, and exact about what is wrong.

Generated modules hold one specialised encoder and decoder per attrs class; they call these to
parse bytes, to check that an object has exactly the expected fields and that each value has the
expected JSON type. Every failure is a `DecodeError` whose text names the field, e.g.
`Charge.amount_cents: expected int, got str '12'`. No reflection, no pickle.
"""

from __future__ import annotations

import base64
import binascii
import enum
import math
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TypeVar
from uuid import UUID

import orjson

from runtime.types import JSON, DecodeError

E = TypeVar("E", bound=enum.Enum)

_JSON_NAMES: dict[type, str] = {
    bool: "bool",
    int: "int",
    float: "float",
    str: "str",
    list: "array",
    dict: "object",
    type(None): "null",
}


def _got(value: object) -> str:
    """`str '12'`, `int 3`, `null`: the received-value half of every message."""
    name = _JSON_NAMES.get(type(value), type(value).__name__)
    if value is None:
        return name
    text = repr(value)
    return f"{name} {text if len(text) <= 40 else text[:37] + '...'}"


def _fail(where: str, expected: str, value: object) -> DecodeError:
    return DecodeError(f"{where}: expected {expected}, got {_got(value)}")


def loads(data: bytes, what: str) -> JSON:
    """Parse JSON bytes; `what` names the message type in the error."""
    try:
        value: JSON = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"{what}: not valid JSON ({exc})") from None
    return value


def dumps(value: JSON) -> bytes:
    return orjson.dumps(value)


def record(
    value: JSON, what: str, required: tuple[str, ...], optional: tuple[str, ...] = ()
) -> dict[str, JSON]:
    """`value` as an object holding every `required` field, any `optional` ones and nothing else."""
    if type(value) is not dict:
        raise _fail(what, "an object", value)
    for name in required:
        if name not in value:
            raise DecodeError(f"{what}.{name}: missing")
    if len(value) > len(required):
        present = sum(1 for name in optional if name in value)
        if len(value) != len(required) + present:
            known = set(required) | set(optional)
            unknown = sorted(k for k in value if k not in known)
            raise DecodeError(f"{what}.{unknown[0]}: unknown field")
    return value


def as_int(value: JSON, where: str) -> int:
    if type(value) is int:
        return value
    raise _fail(where, "int", value)


def as_float(value: JSON, where: str) -> float:
    if type(value) is float:
        return value
    if type(value) is int:
        return float(value)
    raise _fail(where, "float", value)


def as_str(value: JSON, where: str) -> str:
    if type(value) is str:
        return value
    raise _fail(where, "str", value)


def as_bool(value: JSON, where: str) -> bool:
    if type(value) is bool:
        return value
    raise _fail(where, "bool", value)


def as_list(value: JSON, where: str) -> list[JSON]:
    if type(value) is list:
        return value
    raise _fail(where, "array", value)


def as_object(value: JSON, where: str) -> dict[str, JSON]:
    if type(value) is dict:
        return value
    raise _fail(where, "object", value)


def as_choice(value: JSON, where: str, choices: tuple[JSON, ...]) -> JSON:
    """One of the values of a Literal field (compared with their types: True is not 1)."""
    for choice in choices:
        if value == choice and type(value) is type(choice):
            return value
    raise _fail(where, "one of " + ", ".join(repr(c) for c in choices), value)


def as_decimal(value: JSON, where: str) -> Decimal:
    text = as_str(value, where)
    try:
        return Decimal(text)
    except InvalidOperation:
        raise _fail(where, "a decimal number as str", value) from None


def as_datetime(value: JSON, where: str) -> datetime:
    text = as_str(value, where)
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise _fail(where, "an ISO 8601 datetime", value) from None


def as_date(value: JSON, where: str) -> date:
    text = as_str(value, where)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _fail(where, "an ISO 8601 date", value) from None


def as_timedelta(value: JSON, where: str) -> timedelta:
    """A duration, encoded as seconds."""
    return timedelta(seconds=as_float(value, where))


def as_uuid(value: JSON, where: str) -> UUID:
    text = as_str(value, where)
    try:
        return UUID(text)
    except ValueError:
        raise _fail(where, "a UUID", value) from None


def as_bytes(value: JSON, where: str) -> bytes:
    """Bytes, encoded as standard base64."""
    text = as_str(value, where)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise _fail(where, "base64", value) from None


def as_enum(cls: type[E], value: JSON, where: str) -> E:
    try:
        return cls(value)
    except ValueError:
        choices = ", ".join(repr(member.value) for member in cls)
        raise _fail(where, f"one of {choices}", value) from None


def finite(value: float) -> float:
    """A float field's value for JSON, which has no NaN or infinity: those raise ValueError
    (JSON would carry null, which does not decode as a float)."""
    if math.isfinite(value):
        return value
    raise ValueError(f"{value!r} has no JSON form (a float field must be finite)")


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")
