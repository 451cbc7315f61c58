"""Generated codecs round-trip every supported field type and reject bad input with a
DecodeError naming the field; the runtime helpers they call are exact about JSON types."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any
from uuid import UUID

import attrs
import orjson
import pytest
from codegen_support import (
    build_case,
    fresh_input,  # noqa: F401 - a fixture: pytest finds it by name
    import_built,
    messages,
)

from runtime import codec
from runtime.types import JSON, DecodeError


@pytest.fixture
def built(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ModuleType]:
    request.getfixturevalue("fresh_input")
    result = build_case("build_codecs", typecheck=False)
    assert messages(result) == []
    yield import_built(result, tmp_path, "built_codecs")


def a_cart(m: Any) -> Any:
    return m.Cart(
        cart_id=UUID("12345678-1234-5678-1234-567812345678"),
        created=datetime(2030, 5, 17, 9, 30, tzinfo=UTC),
        ship_on=date(2030, 5, 20),
        hold=timedelta(minutes=90),
        channel=m.Channel.SHOP,
        priority=m.Priority.HIGH,
        lines=[m.Line(m.Sku("A-1"), 2, Decimal("9.99"))],
        address=m.Address("Main St 1", "Berlin"),
        photo=b"\x00\xffpng",
        total=m.Cents(1998),
        weight_kg=1.5,
        gift=True,
        status="closed",
        tags=frozenset({"b", "a"}),
        notes=("ring twice",),
        attributes={"floor": 3},
        by_sku={m.Sku("A-1"): [1, 2]},
        coupon=Decimal("0.10"),
        billing=None,
        secret="s3",
    )


def test_every_field_type_round_trips_through_json_bytes(built: ModuleType) -> None:
    cart = a_cart(built)
    data = orjson.loads(orjson.dumps(built.encode_cart(cart)))
    assert built.decode_cart(data) == cart
    assert data["created"] == "2030-05-17T09:30:00+00:00"
    assert data["coupon"] == "0.10"
    assert data["photo"] == "AP9wbmc="
    assert data["channel"] == "shop"
    assert data["priority"] == 2
    assert data["tags"] == ["a", "b"]
    assert data["hold"] == 5400.0
    assert "secret" in data


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_a_float_without_a_json_form_is_refused_when_encoded(
    built: ModuleType, value: float
) -> None:
    """JSON has no NaN or infinity (orjson would write null, which does not decode back)."""
    cart = attrs.evolve(a_cart(built), weight_kg=value)
    with pytest.raises(ValueError, match=r"has no JSON form \(a float field must be finite\)"):
        built.encode_cart(cart)


def test_fields_with_defaults_may_be_absent(built: ModuleType) -> None:
    data = built.encode_cart(a_cart(built))
    for key in ("status", "tags", "notes", "attributes", "by_sku", "coupon", "billing", "secret"):
        del data[key]
    cart = built.decode_cart(data)
    assert (cart.status, cart.tags, cart.notes, cart.attributes) == ("open", frozenset(), (), {})
    assert (cart.by_sku, cart.coupon, cart.billing, cart._secret) == ({}, None, None, "")


def test_messages_encode_to_bytes_and_back(built: ModuleType) -> None:
    message = built.CartClosed(UUID(int=7), (built.Line(built.Sku("B"), 1, Decimal(2)),))
    raw = built.encode_cart_closed_bytes(message)
    assert isinstance(raw, bytes)
    assert built.decode_cart_closed_bytes(raw) == message
    assert built.CART_CLOSED.decode(raw) == message
    assert built.CART_CLOSED.key(message) == str(UUID(int=7))


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"total": "12"}, "Cart.total: expected int, got str '12'"),
        ({"gift": 1}, "Cart.gift: expected bool, got int 1"),
        ({"weight_kg": True}, "Cart.weight_kg: expected float, got bool True"),
        ({"channel": "fax"}, "Cart.channel: expected one of 'web', 'shop', got str 'fax'"),
        ({"status": "lost"}, "Cart.status: expected one of 'open', 'closed', got str 'lost'"),
        ({"photo": "***"}, "Cart.photo: expected base64, got str '***'"),
        (
            {"created": "yesterday"},
            "Cart.created: expected an ISO 8601 datetime, got str 'yesterday'",
        ),
        ({"coupon": "ten"}, "Cart.coupon: expected a decimal number as str, got str 'ten'"),
        ({"lines": {}}, "Cart.lines: expected array, got object {}"),
        ({"notes": [1]}, "Cart.notes[]: expected str, got int 1"),
        ({"address": {"street": "x"}}, "Address.city: missing"),
        ({"extra": 1}, "Cart.extra: unknown field"),
    ],
)
def test_bad_input_names_the_field(
    built: ModuleType, change: dict[str, object], error: str
) -> None:
    data = built.encode_cart(a_cart(built))
    data.update(change)
    with pytest.raises(DecodeError) as raised:
        built.decode_cart(data)
    assert str(raised.value) == error


def test_a_missing_required_field_is_named(built: ModuleType) -> None:
    data = built.encode_cart(a_cart(built))
    del data["cart_id"]
    with pytest.raises(DecodeError, match=r"^Cart\.cart_id: missing$"):
        built.decode_cart(data)


def test_bytes_that_are_not_json_name_the_message(built: ModuleType) -> None:
    with pytest.raises(DecodeError, match=r"^CartClosed: not valid JSON"):
        built.decode_cart_closed_bytes(b"{nope")
    with pytest.raises(DecodeError, match=r"^CartClosed: expected an object, got array \[\]$"):
        built.decode_cart_closed_bytes(b"[]")


# ---------------------------------------------------------------------- runtime.codec helpers


class Color(enum.Enum):
    RED = 1


def test_record_accepts_exactly_the_expected_fields() -> None:
    value: JSON = {"a": 1, "b": 2}
    assert codec.record(value, "T", ("a",), ("b", "c")) is value
    with pytest.raises(DecodeError, match=r"^T\.z: unknown field$"):
        codec.record({"a": 1, "z": 2}, "T", ("a",), ("b",))
    with pytest.raises(DecodeError, match=r"^T\.a: missing$"):
        codec.record({"b": 1}, "T", ("a",), ("b",))


def test_scalars_are_checked_by_exact_json_type() -> None:
    assert codec.as_float(3, "x") == 3.0
    assert isinstance(codec.as_float(3, "x"), float)
    with pytest.raises(DecodeError, match=r"^x: expected int, got bool True$"):
        codec.as_int(True, "x")
    with pytest.raises(DecodeError, match=r"^x: expected str, got null$"):
        codec.as_str(None, "x")
    long = "y" * 100
    with pytest.raises(DecodeError, match=r"^x: expected int, got str 'y{36}\.\.\.$"):
        codec.as_int(long, "x")


def test_choices_compare_types_too() -> None:
    assert codec.as_choice(1, "x", (1, 2)) == 1
    with pytest.raises(DecodeError, match=r"^x: expected one of 1, 2, got bool True$"):
        codec.as_choice(True, "x", (1, 2))


def test_enums_uuids_and_dates() -> None:
    assert codec.as_enum(Color, 1, "c") is Color.RED
    assert codec.as_uuid(str(UUID(int=1)), "u") == UUID(int=1)
    assert codec.as_date("2030-01-02", "d") == date(2030, 1, 2)
    with pytest.raises(DecodeError, match=r"^u: expected a UUID, got str 'x'$"):
        codec.as_uuid("x", "u")


def test_dumps_and_loads_round_trip() -> None:
    value: JSON = {"a": [1, 2.5, None, True, "x"]}
    assert codec.loads(codec.dumps(value), "T") == value
