"""Lowering of attrs classes to specialised codecs: one encoder and one decoder per class, field by
field, with no reflection at run time (Enums by value, datetimes as ISO strings, Decimal as str,
bytes as base64, NewTypes as their base type)."""

from __future__ import annotations

import ast
import enum
import inspect
import json
import math
import types
import typing
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from uuid import UUID

import attrs

from codegen import source
from codegen.diagnostics import Diagnostic
from codegen.imports import ImportTracker
from codegen.ir import Codec, CodecField
from dsl.errors import Location

UNSUPPORTED_CODE = "DGR320"

# type -> (decoder helper in runtime.codec, encoder template or None when JSON already)
_SCALARS: dict[object, tuple[str, str | None]] = {
    bool: ("as_bool", None),
    int: ("as_int", None),
    float: ("as_float", "{codec}.finite({})"),
    str: ("as_str", None),
    Decimal: ("as_decimal", "str({})"),
    datetime: ("as_datetime", "{}.isoformat()"),
    date: ("as_date", "{}.isoformat()"),
    timedelta: ("as_timedelta", "{}.total_seconds()"),
    UUID: ("as_uuid", "str({})"),
    bytes: ("as_bytes", "{codec}.b64({})"),
}
_COLLECTIONS = {list: "list", tuple: "tuple", set: "set", frozenset: "frozenset"}
_BUILTIN_FACTORIES = (list, dict, set, frozenset, tuple)
_UNIONS: tuple[object, ...] = (typing.Union, types.UnionType)


class Unsupported(Exception):
    """A field type or default that has no JSON codec; the text says which and why."""


def literal(text: str) -> str:
    """A double-quoted Python string literal."""
    return json.dumps(text, ensure_ascii=False)


def snake(name: str) -> str:
    out = []
    for index, char in enumerate(name):
        if char.isupper() and index and (name[index - 1].islower() or name[index - 1].isdigit()):
            out.append("_")
        out.append(char.lower() if char.isalnum() else "_")
    return "".join(out).strip("_") or "x"


class CodecBuilder:
    """Collects the codecs a workflow needs: its state, its messages and every class nested in them."""

    def __init__(self, tracker: ImportTracker, codec: str, unique: Callable[[str], str]) -> None:
        self.tracker = tracker
        self.codec = codec  # the local name of runtime.codec
        self.unique = unique
        self.codecs: dict[type, Codec] = {}
        self.diagnostics: list[Diagnostic] = []

    def require(self, cls: type, *, message: bool = False) -> Codec:
        """The codec of `cls` (built once); `message` adds the bytes encoder and decoder."""
        codec = self.codecs.get(cls)
        if codec is None:
            codec = self._build(cls)
        if message and codec.encode_bytes is None:
            base = snake(cls.__name__)
            codec = attrs.evolve(
                codec,
                encode_bytes=self.unique(f"encode_{base}_bytes"),
                decode_bytes=self.unique(f"decode_{base}_bytes"),
            )
            self.codecs[cls] = codec
        return codec

    def _build(self, cls: type) -> Codec:
        base = snake(cls.__name__)
        placeholder = Codec(
            type_name=self.tracker.annotation(cls),
            label=cls.__qualname__,
            encode=self.unique(f"encode_{base}"),
            decode=self.unique(f"decode_{base}"),
            fields=(),
        )
        self.codecs[cls] = placeholder  # a class that contains itself refers to this entry
        fields = self._fields(cls, placeholder.label)
        codec = attrs.evolve(self.codecs[cls], fields=fields)
        self.codecs[cls] = codec
        return codec

    def _fields(self, cls: type, label: str) -> tuple[CodecField, ...]:
        try:
            hints = typing.get_type_hints(cls)
        except Exception as exc:  # an unresolvable annotation: a NameError, usually
            self._report(cls, f"the field types of {label} cannot be resolved ({exc})")
            return ()
        out: list[CodecField] = []
        for field in attrs.fields(cls):
            if not field.init:
                continue
            tp = hints.get(field.name, field.type)
            try:
                out.append(self._field(field, tp, label))
            except Unsupported as exc:
                self._report(cls, f"{label}.{field.name}: {exc}")
        return tuple(out)

    def _field(self, field: attrs.Attribute[object], tp: object, label: str) -> CodecField:
        key = field.alias or field.name
        where = f"{label}.{key}"
        value = f"o[{literal(key)}]"
        decode = self.decode(tp, value, where, 1)
        default = None
        if field.default is not attrs.NOTHING:
            default = self.default(field.default, tp)
            if decode.startswith("None if "):  # a conditional inside a conditional: bracket it
                decode = f"({decode})"
            decode = f"{decode} if {literal(key)} in o else {default}"
        return CodecField(field.name, key, self.encode(tp, f"v.{field.name}", 1), decode, default)

    def _report(self, cls: type, message: str) -> None:
        self.diagnostics.append(
            Diagnostic(
                UNSUPPORTED_CODE,
                message,
                class_location(cls),
                hint="state and message fields may be bool, int, float, str, bytes, Decimal, "
                "datetime, date, timedelta, UUID, Enums, NewTypes of these, attrs classes, "
                "Literals, optionals, and lists, tuples, sets and str-keyed dicts of them",
            )
        )

    # ------------------------------------------------------------------ encoding

    def encode(self, tp: object, x: str, depth: int) -> str:
        """An expression turning `x` (of type `tp`) into JSON."""
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if origin in _UNIONS:
            encoded = self.encode(_optional(args), x, depth)
            return x if encoded == x else f"None if {x} is None else {encoded}"
        if origin is typing.Literal:
            return x
        if origin is not None:
            return self._encode_collection(origin, args, x, depth)
        return self._encode_plain(tp, x, depth)

    def _encode_plain(self, tp: object, x: str, depth: int) -> str:
        if isinstance(tp, typing.NewType):
            return self.encode(tp.__supertype__, x, depth)
        if tp in _SCALARS:
            template = _SCALARS[tp][1]
            return template.format(x, codec=self.codec) if template else x
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return f"{x}.value"
        if isinstance(tp, type) and attrs.has(tp):
            return f"{self.require(tp).encode}({x})"
        raise Unsupported(f"{_name(tp)} has no JSON form")

    def _encode_collection(
        self, origin: object, args: tuple[object, ...], x: str, depth: int
    ) -> str:
        item = f"v{depth}"
        if origin is dict:
            _check_key(args[0])
            encoded = self.encode(args[1], item, depth + 1)
            if encoded == item:
                return f"dict({x})"
            return f"{{k{depth}: {encoded} for k{depth}, {item} in {x}.items()}}"
        element = _element(origin, args)
        encoded = self.encode(element, item, depth + 1)
        if origin in (set, frozenset):
            if encoded != item:
                raise Unsupported(f"sets of {_name(element)} have no stable JSON order")
            return f"[{item} for {item} in sorted({x})]"
        return f"list({x})" if encoded == item else f"[{encoded} for {item} in {x}]"

    # ------------------------------------------------------------------ decoding

    def decode(self, tp: object, x: str, where: str, depth: int) -> str:
        """An expression turning the JSON value `x` into `tp`, failing with a DecodeError at `where`."""
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if origin in _UNIONS:
            inner = self.decode(_optional(args), x, where, depth)
            return f"None if {x} is None else {inner}"
        if origin is typing.Literal:
            cast = self.tracker.name("typing", "cast")
            choices = ", ".join(repr(a) for a in args) + ("," if len(args) == 1 else "")
            annotation = literal(self.tracker.annotation(tp))
            check = f"{self.codec}.as_choice({x}, {literal(where)}, ({choices}))"
            return f"{cast}({annotation}, {check})"
        if origin is not None:
            return self._decode_collection(origin, args, x, where, depth)
        return self._decode_plain(tp, x, where, depth)

    def _decode_plain(self, tp: object, x: str, where: str, depth: int) -> str:
        if isinstance(tp, typing.NewType):
            inner = self.decode(tp.__supertype__, x, where, depth)
            return f"{self.tracker.annotation(tp)}({inner})"
        if tp in _SCALARS:
            return f"{self.codec}.{_SCALARS[tp][0]}({x}, {literal(where)})"
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            cls = self.tracker.annotation(tp)
            return f"{self.codec}.as_enum({cls}, {x}, {literal(where)})"
        if isinstance(tp, type) and attrs.has(tp):
            return f"{self.require(tp).decode}({x})"
        raise Unsupported(f"{_name(tp)} has no JSON form")

    def _decode_collection(
        self, origin: object, args: tuple[object, ...], x: str, where: str, depth: int
    ) -> str:
        item = f"v{depth}"
        if origin is dict:
            key = _check_key(args[0])
            value = self.decode(args[1], item, f"{where}[]", depth + 1)
            source_ = f"{self.codec}.as_object({x}, {literal(where)})"
            key_expr = f"k{depth}" if key is str else f"{self.tracker.annotation(key)}(k{depth})"
            return f"{{{key_expr}: {value} for k{depth}, {item} in {source_}.items()}}"
        element = _element(origin, args)
        value = self.decode(element, item, f"{where}[]", depth + 1)
        items = f"{self.codec}.as_list({x}, {literal(where)})"
        if origin is list:
            return f"[{value} for {item} in {items}]"
        return f"{_COLLECTIONS[origin]}({value} for {item} in {items})"  # type: ignore[index]

    # ------------------------------------------------------------------ defaults

    def default(self, value: object, tp: object) -> str:
        """The source text of a field's default, so a decoder can fill an absent field."""
        if isinstance(value, attrs.Factory):  # type: ignore[arg-type]
            factory = value.factory  # type: ignore[attr-defined]
            if value.takes_self:  # type: ignore[attr-defined]
                raise Unsupported(
                    "a default Factory(takes_self=True) cannot be rebuilt by a decoder"
                )
            if factory in _BUILTIN_FACTORIES:
                return f"{factory.__name__}()"
            module, qualname = (
                getattr(factory, "__module__", ""),
                getattr(factory, "__qualname__", ""),
            )
            try:
                return f"{self.tracker.qualified(module, qualname)}()"
            except TypeError as exc:
                raise Unsupported(f"default factory {qualname}: {exc}") from None
        return self._value(value, tp)

    def _value(self, value: object, tp: object) -> str:
        if isinstance(tp, typing.NewType):
            return f"{self.tracker.annotation(tp)}({self._value(value, tp.__supertype__)})"
        if value is None or isinstance(value, bool | int | str | bytes | float):
            return _scalar_source(value)
        if isinstance(value, enum.Enum):
            return f"{self.tracker.annotation(type(value))}.{value.name}"
        if isinstance(value, Decimal):
            return f"{self.tracker.annotation(Decimal)}({literal(str(value))})"
        if isinstance(value, tuple | frozenset) and not value:
            return "()" if isinstance(value, tuple) else "frozenset()"
        raise Unsupported(f"the default {value!r} cannot be written as source; use Factory(fn)")


def _scalar_source(value: object) -> str:
    if isinstance(value, str):
        return literal(value)
    if isinstance(value, float) and not math.isfinite(value):
        return f'float("{value}")'
    return repr(value)


def _optional(args: tuple[object, ...]) -> object:
    rest = [a for a in args if a is not type(None)]
    if len(rest) != 1 or len(args) != 2:
        names = " | ".join(_name(a) for a in args)
        raise Unsupported(f"{names} is ambiguous in JSON; only `X | None` unions are supported")
    return rest[0]


def _element(origin: object, args: tuple[object, ...]) -> object:
    if origin not in _COLLECTIONS:
        raise Unsupported(f"{_name(origin)} has no JSON form")
    if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
        raise Unsupported("only variable-length tuples (tuple[X, ...]) are supported")
    if not args:
        raise Unsupported(f"{_name(origin)} needs an item type")
    return args[0]


def _check_key(tp: object) -> object:
    base = tp
    while isinstance(base, typing.NewType):
        base = base.__supertype__
    if base is not str:
        raise Unsupported(f"dict keys must be str (or a NewType of str), not {_name(tp)}")
    return tp


def _name(tp: object) -> str:
    return getattr(tp, "__qualname__", None) or getattr(tp, "__name__", None) or repr(tp)


def class_location(cls: type) -> Location | None:
    """Where a class is defined (its `class` statement), for diagnostics about its fields."""
    try:
        file = inspect.getsourcefile(cls)
    except TypeError:
        return None
    tree = source.module_ast(file) if file else None
    if tree is None or file is None:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == cls.__name__:
            return source.location_of(node, file)
    return None
