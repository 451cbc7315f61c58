"""State and message fields must be plain data the generated codecs can encode (DGR203).

Allowed: str, int, float, bool, bytes, Decimal, datetime, date, timedelta, UUID, an Enum, a Literal
of plain values, a NewType of an allowed type, `X | None`, list[X], tuple[X, ...], set/frozenset of
str/int/float/bool (so they sort), dict with str keys, and attrs classes whose fields are all allowed
(checked recursively; the message names the path, e.g. `Order.items[].sku`). These are the rules of
`codegen.codecs`, which writes the encoders; nothing is ever pickled.
"""

from __future__ import annotations

import ast
import enum
import inspect
import types
import typing
from collections.abc import Iterator, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from uuid import UUID

import attrs
from attrs import frozen

from codegen import source
from codegen.checks import typeinfo, walk
from codegen.checks.typeinfo import type_name
from codegen.diagnostics import Diagnostic
from codegen.loader import LoadedWorkflow
from dsl.errors import Location

SCALARS: frozenset[object] = frozenset(
    {str, int, float, bool, bytes, Decimal, datetime, date, timedelta, UUID}
)
_SORTABLE: frozenset[object] = frozenset({str, int, float, bool})  # sets encode as sorted lists
_LISTS: frozenset[object] = frozenset({list, set, frozenset, tuple})
_HINT = (
    "state and message fields must be plain data: str, int, float, bool, bytes, Decimal, "
    "datetime, date, timedelta, UUID, an Enum, a Literal or NewType of these, X | None, "
    "list[X], tuple[X, ...], sets of str/int/float/bool, dict with str keys, "
    "or an attrs class of such fields"
)


@frozen
class Problem:
    """Field `field` of attrs class `owner`, reached as `path`, has a type `tp` with no encoding."""

    path: str
    tp: object
    reason: str
    owner: type
    field: str


def check(workflows: Sequence[LoadedWorkflow]) -> Iterator[Diagnostic]:
    reported: set[tuple[type, str]] = set()
    for root in _roots(workflows):
        for problem in problems(root):
            if (problem.owner, problem.field) not in reported:
                reported.add((problem.owner, problem.field))
                yield _diagnostic(problem)


def _roots(workflows: Sequence[LoadedWorkflow]) -> list[type]:
    roots: dict[type, None] = {}
    for loaded in workflows:
        roots.setdefault(loaded.workflow.state)
        for topic in walk.topics(loaded.workflow):
            roots.setdefault(topic.message)
    return list(roots)


def problems(cls: type) -> Iterator[Problem]:
    """Every field of `cls`, nested ones included, whose type cannot be encoded."""
    yield from _class(cls, cls.__name__, frozenset())


def _class(cls: type, path: str, active: frozenset[type]) -> Iterator[Problem]:
    if cls in active:
        return  # a recursive type: its fields are being checked further up
    declared = typeinfo.hints(cls)
    for field in attrs.fields(cls):
        here = Place(f"{path}.{field.name}", cls, field.name)
        if declared is None or field.name not in declared:
            yield here.problem(field.type, "its annotation cannot be resolved")
        else:
            yield from _type(declared[field.name], here, active | {cls})


@frozen
class Place:
    path: str
    owner: type
    field: str

    def problem(self, tp: object, reason: str = "") -> Problem:
        return Problem(self.path, tp, reason, self.owner, self.field)

    def inside(self, suffix: str) -> Place:
        return Place(self.path + suffix, self.owner, self.field)


def _type(tp: object, place: Place, active: frozenset[type]) -> Iterator[Problem]:
    tp = typeinfo.newtype_base(tp)
    if tp in SCALARS or (isinstance(tp, type) and issubclass(tp, enum.Enum)):
        return
    if isinstance(tp, type) and attrs.has(tp):
        yield from _class(tp, place.path, active)
        return
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is None or not args:
        yield place.problem(tp, _bare_reason(tp))
    elif origin is typing.Literal:
        if not all(a is None or isinstance(a, str | int | float) for a in args):
            yield place.problem(tp, "Literal values must be str, int, float, bool or None")
    elif origin in (typing.Union, types.UnionType):
        yield from _union(tp, args, place, active)
    elif origin is dict:
        yield from _dict(tp, args, place, active)
    elif origin in _LISTS:
        yield from _sequence(tp, origin, args, place, active)
    else:
        yield place.problem(tp)


def _sequence(
    tp: object, origin: object, args: tuple[object, ...], place: Place, active: frozenset[type]
) -> Iterator[Problem]:
    if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
        yield place.problem(tp, "only variable-length tuples, tuple[X, ...], can be encoded")
    elif origin in (set, frozenset) and _sort_base(args[0]) not in _SORTABLE:
        yield place.problem(tp, "set elements must be str, int, float or bool, to encode in order")
    else:
        yield from _type(args[0], place.inside("[]"), active)


def _sort_base(tp: object) -> object:
    """The JSON type a set element is sorted as: a NewType's base, a Literal's value type."""
    tp = typeinfo.newtype_base(tp)
    if typing.get_origin(tp) is typing.Literal:
        kinds = {type(a) for a in typing.get_args(tp)}
        return kinds.pop() if len(kinds) == 1 else None
    return tp


def _bare_reason(tp: object) -> str:
    if tp in (list, tuple, set, frozenset, dict):
        return "name its element types, e.g. list[str]"
    return ""


def _union(
    tp: object, args: tuple[object, ...], place: Place, active: frozenset[type]
) -> Iterator[Problem]:
    present = [a for a in args if a is not type(None)]
    if len(present) == 1 and len(args) == 2:
        yield from _type(present[0], place, active)
    else:
        yield place.problem(tp, "only optional values, X | None, can be encoded")


def _dict(
    tp: object, args: tuple[object, ...], place: Place, active: frozenset[type]
) -> Iterator[Problem]:
    if typeinfo.is_assignable(args[0], str) is not True:
        yield place.problem(tp, "dict keys must be str")
    else:
        yield from _type(args[1], place.inside("{}"), active)


def _diagnostic(problem: Problem) -> Diagnostic:
    reason = f" ({problem.reason})" if problem.reason else ""
    return Diagnostic(
        "DGR203",
        f"{problem.path}: {type_name(problem.tp)} cannot be encoded{reason}",
        field_location(problem.owner, problem.field),
        hint=_HINT,
    )


def field_location(cls: type, field: str) -> Location | None:
    """Where `field` is annotated in the source of `cls` (or a base), else the class line."""
    for klass in cls.__mro__:
        node = class_node(klass)
        if node is None:
            continue
        for stmt in node.body:
            if (
                isinstance(stmt, ast.AnnAssign)
                and isinstance(stmt.target, ast.Name)
                and stmt.target.id == field
            ):
                return source.location_of(stmt.annotation, _file(klass) or "")
    node = class_node(cls)
    file = _file(cls)
    if node is None or file is None:
        return None
    return Location(file, node.lineno, node.col_offset, node.lineno, node.col_offset + 5)


def _file(cls: type) -> str | None:
    try:
        return inspect.getsourcefile(cls)
    except (TypeError, OSError):
        return None


def class_node(cls: type) -> ast.ClassDef | None:
    """The `class` statement of `cls`, found by its qualified name in its module's source."""
    file = _file(cls)
    module = source.module_ast(file) if file else None
    if module is None:
        return None
    return _find_class(module.body, "", cls.__qualname__)


def _find_class(body: Sequence[ast.stmt], prefix: str, qualname: str) -> ast.ClassDef | None:
    for stmt in body:
        if isinstance(stmt, ast.ClassDef):
            name = prefix + stmt.name
            if name == qualname:
                return stmt
            inner = _find_class(stmt.body, name + ".", qualname)
        elif isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            inner = _find_class(stmt.body, f"{prefix}{stmt.name}.<locals>.", qualname)
        else:
            nested = [s for s in ast.iter_child_nodes(stmt) if isinstance(s, ast.stmt)]
            inner = _find_class(nested, prefix, qualname)
        if inner is not None:
            return inner
    return None
