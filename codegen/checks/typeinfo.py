"""Static type facts about user callables and classes, without running any user code.

Named functions answer through their annotations (`typing.get_type_hints`). Lambdas have none, so
the few body shapes whose type is certain are resolved from source: a parameter, an attribute chain
through attrs field annotations (`lambda o: o.order.id`), a constant, an f-string, a comparison.
Anything else is unknown, and an unknown type is never an error here: mypy checks the generated code.
"""

from __future__ import annotations

import ast
import enum
import functools
import inspect
import types
import typing
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, NewType

import attrs
from attrs import frozen

from codegen import source


@frozen
class Known:
    """A type that was determined; `None` from a lookup means it could not be."""

    tp: object


def function(fn: object) -> types.FunctionType | None:
    """`fn` when it is a plain Python function or lambda (not a builtin, class or partial)."""
    return fn if isinstance(fn, types.FunctionType) else None


def is_lambda(fn: object) -> bool:
    return isinstance(fn, types.FunctionType) and fn.__name__ == "<lambda>"


def hints(obj: object) -> dict[str, Any] | None:
    """Resolved annotations of a function or class, or None when they cannot be resolved."""
    try:
        return typing.get_type_hints(obj)
    except Exception:  # user annotations can raise anything (NameError, TypeError, ...)
        return None


def positional_params(fn: types.FunctionType) -> list[inspect.Parameter] | None:
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p for p in signature.parameters.values() if p.kind in kinds]


def accepts(fn: types.FunctionType, count: int) -> bool | None:
    """Whether `fn` can be called with `count` positional arguments (None: cannot tell)."""
    try:
        inspect.signature(fn).bind(*range(count))
    except TypeError:
        return False
    except ValueError:
        return None
    return True


def returns(fn: object, params: Sequence[object]) -> Known | None:
    """What `fn(*params)` returns, if it can be told statically."""
    func = function(fn)
    if func is None:
        return None
    if is_lambda(func):
        return _lambda_result(func, params)
    declared = hints(func)
    if declared is None or "return" not in declared:
        return None
    result: object = declared["return"]
    if inspect.iscoroutinefunction(func):
        result = Coroutine[Any, Any, result]  # type: ignore[valid-type]
    return Known(result)


def awaited(tp: object) -> object:
    """The result type of awaiting `tp` when it is an Awaitable or Coroutine, else `tp`."""
    origin = typing.get_origin(tp)
    if origin in (Awaitable, Coroutine):
        args = typing.get_args(tp)
        return args[-1] if args else Any
    return tp


def lambda_node(fn: types.FunctionType) -> ast.Lambda | None:
    """The `lambda` expression in the source that compiled to `fn`."""
    code = fn.__code__
    found = _lambdas(code.co_filename).get(code.co_firstlineno, [])
    if len(found) <= 1:
        return found[0] if found else None
    points = [  # instructions with a real span (the entry and exit ones have none)
        (line, col)
        for line, _, col, end in code.co_positions()
        if line and col is not None and end is not None and end > col
    ]
    inside = [n for n in found if all(_contains(n, point) for point in points)]
    return min(inside, key=_span, default=None)


@functools.lru_cache(maxsize=64)
def _lambdas(file: str) -> dict[int, list[ast.Lambda]]:
    """Every lambda of a file by its first line (one walk per file: chains can be long)."""
    module = source.module_ast(file)
    found: dict[int, list[ast.Lambda]] = {}
    for node in ast.walk(module) if module is not None else ():
        if isinstance(node, ast.Lambda):
            found.setdefault(node.lineno, []).append(node)
    return found


def _span(node: ast.expr) -> tuple[int, int]:
    return ((node.end_lineno or node.lineno) - node.lineno, (node.end_col_offset or 0))


def _contains(node: ast.expr, point: tuple[int, int]) -> bool:
    start = (node.lineno, node.col_offset)
    end = (node.end_lineno or node.lineno, node.end_col_offset or 0)
    return start <= point <= end


def _lambda_result(fn: types.FunctionType, params: Sequence[object]) -> Known | None:
    node = lambda_node(fn)
    if node is None:
        return None
    names = [a.arg for a in (*node.args.posonlyargs, *node.args.args)]
    scope = dict(zip(names, params, strict=False))
    return _expression_type(node.body, scope)


def _expression_type(expr: ast.expr, scope: dict[str, object]) -> Known | None:
    if isinstance(expr, ast.Name):
        return Known(scope[expr.id]) if expr.id in scope else None
    if isinstance(expr, ast.Attribute):
        owner = _expression_type(expr.value, scope)
        return field_type(owner.tp, expr.attr) if owner is not None else None
    if isinstance(expr, ast.Constant):
        return Known(type(expr.value))
    if isinstance(expr, ast.JoinedStr):
        return Known(str)
    if isinstance(expr, ast.Compare) or (
        isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.Not)
    ):
        return Known(bool)
    return None


def field_type(cls: object, name: str) -> Known | None:
    """The annotated type of attrs field `name` of `cls`."""
    if not (isinstance(cls, type) and attrs.has(cls)):
        return None
    if name not in {f.name for f in attrs.fields(cls)}:
        return None
    declared = hints(cls)
    return Known(declared[name]) if declared and name in declared else None


def newtype_base(tp: object) -> object:
    """The runtime class behind a chain of NewTypes (`OrderId` -> `str`)."""
    while isinstance(tp, NewType):
        tp = tp.__supertype__
    return tp


def is_assignable(src: object, dst: object) -> bool | None:
    """Whether a `src` value is accepted where `dst` is expected (None: cannot tell).

    NewType-aware: `OrderId` fits `str` and `OrderId`, but `str` does not fit `OrderId` and
    `BoxId` does not fit `OrderId`.
    """
    if src == dst or dst in (Any, object):
        return True
    current = src
    while isinstance(current, NewType):
        current = current.__supertype__
        if current == dst:
            return True
    if isinstance(dst, NewType):
        return False if isinstance(src, type | NewType) else None
    if not isinstance(dst, type):
        return None
    origin = typing.get_origin(current)  # list[str] is a list; a union has no class
    if isinstance(origin, type) and origin is not types.UnionType:
        current = origin
    return issubclass(current, dst) if isinstance(current, type) else None


def type_name(tp: object) -> str:
    """How a user writes `tp`: `OrderId`, `set[str]`, `int | None`, `Literal['a']`."""
    if tp is type(None) or tp is None or tp is Any:
        return "None" if tp is not Any else "Any"
    origin = typing.get_origin(tp)
    if origin is None:
        return _plain_name(tp)
    args = typing.get_args(tp)
    if origin is typing.Literal:
        return f"Literal[{', '.join(show_value(a) for a in args)}]"
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in args)
    shown = ", ".join("..." if a is Ellipsis else type_name(a) for a in args)
    return f"{_plain_name(origin)}[{shown}]"


def show_value(value: object) -> str:
    """A value as the user writes it: `Status.NEW`, `'a'`, `True`."""
    if isinstance(value, enum.Enum):
        return f"{type(value).__name__}.{value.name}"
    return repr(value)


def _plain_name(tp: object) -> str:
    if isinstance(tp, list):  # Callable's parameter list
        return f"[{', '.join(type_name(a) for a in tp)}]"
    if isinstance(tp, type):
        return tp.__name__
    name = getattr(tp, "__name__", None)
    return name if isinstance(name, str) else repr(tp).replace("typing.", "")


def describe_callable(fn: Callable[..., object] | object) -> str:
    """`the lambda` or `function 'name'`, as messages refer to a user callable."""
    if is_lambda(fn):
        return "the lambda"
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    return f"function {name!r}" if isinstance(name, str) else repr(fn)
