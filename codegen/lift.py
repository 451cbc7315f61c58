"""Lambda lifting: every user callable becomes a named, fully annotated function of the module.

A lambda is found in its file through its code object and `ast` (fast even on a 1,000-step
chain); its body is copied as written and its free names are imported from where its module got
them (its own import statements, or the module itself for names defined there). A named function
is imported from its own module and called inside an annotated wrapper, so mypy checks it against
the state, message and key types at the wrapper. libcst only rewrites a body whose names must be
aliased, a small snippet.
"""

from __future__ import annotations

import ast
import builtins
import functools
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from types import CodeType, FunctionType, ModuleType
from typing import Any, TypeGuard

import libcst
from attrs import frozen

from codegen import source
from codegen.diagnostics import Diagnostic
from codegen.imports import ImportClash, ImportTracker, ScopeBinding, module_scope
from codegen.ir import Function, Origin, Param
from dsl.errors import Location

LAMBDA_CODE = "DGR301"  # a type error inside a user's lambda
FUNCTION_CODE = "DGR302"  # a user's function does not fit where it is passed
CONSTANT_CODE = "DGR303"  # a constant argument does not fit
CAPTURE_CODE = "DGR311"  # a lambda uses a name that is not module-level
ARITY_CODE = "DGR312"  # a lambda takes the wrong number of parameters
IMPORT_CODE = "DGR313"  # a callable that cannot be imported by the generated module


@frozen
class Slot:
    """What a DSL argument must be: `role` names it (`command(build=...)`), `keyword` is the
    argument, `params` the (name, annotation) pairs it is called with, `returns` its result."""

    role: str
    keyword: str
    params: tuple[tuple[str, str], ...]
    returns: str
    position: int | None = None  # its positional index in the DSL call, when it has one
    may_await: bool = False  # an async function is awaited (call)


class LiftError(Exception):
    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


class Lifter:
    """Lifts callables into `Function`s, importing what they need through `tracker`."""

    def __init__(self, tracker: ImportTracker, display: Callable[[Location], str]) -> None:
        self.tracker = tracker
        self.display = display

    def lift(self, fn: object, name: str, slot: Slot, call: Location) -> Function:
        """The function for `fn`, passed as `slot` in the DSL call at `call`. Raises LiftError."""
        if is_lambda(fn):
            return self._lambda(fn, name, slot)
        where = source.argument_location(call, slot.keyword, slot.position)
        ref = self._reference(fn, slot, where)
        params = tuple(Param(p, a) for p, a in slot.params)
        args = ", ".join(p.name for p in params)
        is_async = slot.may_await and inspect.iscoroutinefunction(fn)
        body = f"await {ref}({args})" if is_async else f"{ref}({args})"
        what = f"{slot.keyword}={getattr(fn, '__name__', ref)}"
        origin = Origin(where, what, FUNCTION_CODE)
        return Function(
            name, params, slot.returns, body, self._comment(where, slot), origin, is_async
        )

    def constant(self, name: str, slot: Slot, expression: str, call: Location) -> Function:
        """A function of the state returning a constant the user wrote, e.g. `timedelta(seconds=1)`."""
        where = source.argument_location(call, slot.keyword, slot.position)
        params = tuple(Param(p, a) for p, a in slot.params)
        origin = Origin(where, f"{slot.keyword}=<constant>", CONSTANT_CODE)
        return Function(name, params, slot.returns, expression, self._comment(where, slot), origin)

    def _comment(self, where: Location, slot: Slot) -> str:
        return f"{self.display(where)} {slot.role}"

    # ------------------------------------------------------------------ named callables

    def _reference(self, fn: object, slot: Slot, where: Location) -> str:
        module = getattr(fn, "__module__", None)
        qualname = getattr(fn, "__qualname__", None)
        if (
            isinstance(module, str)
            and isinstance(qualname, str)
            and _resolves(fn, module, qualname)
        ):
            try:
                return self.tracker.qualified(module, qualname)
            except TypeError:
                pass
        shown = qualname if isinstance(qualname, str) else type(fn).__name__
        raise LiftError(
            Diagnostic(
                IMPORT_CODE,
                f"{slot.role} is {shown}, which the generated module cannot import",
                where,
                hint="pass a module-level function or a lambda",
            )
        )

    # ------------------------------------------------------------------ lambdas

    def _lambda(self, fn: Any, name: str, slot: Slot) -> Function:
        code = fn.__code__
        node = find_lambda(code)
        if node is None:
            raise LiftError(
                Diagnostic(
                    IMPORT_CODE,
                    f"cannot find the source of the lambda passed as {slot.role}",
                    Location(code.co_filename, code.co_firstlineno, 0, code.co_firstlineno, 1),
                    hint="define it in a .py file daggerc can read, or pass a named function",
                )
            )
        file = code.co_filename
        where = source.location_of(node, file)
        if code.co_freevars:
            raise LiftError(_captures(code.co_freevars[0], slot, where))
        params = _lambda_params(node, slot, where)
        body = text_of(file, node.body)
        renames = self._import_free_names(node, fn, slot, where)
        if renames:
            body = _rename(body, renames)
        origin = Origin(where, "lambda", LAMBDA_CODE, source.location_of(node.body, file))
        return Function(name, params, slot.returns, body, self._comment(where, slot), origin)

    def _import_free_names(
        self, node: ast.Lambda, fn: Any, slot: Slot, where: Location
    ) -> dict[str, str]:
        """Import every free name of the lambda; returns the names that had to be aliased."""
        module_name = fn.__globals__.get("__name__", "")
        package = fn.__globals__.get("__package__") or ""
        scope = module_scope(fn.__code__.co_filename, module_name, package)
        renames: dict[str, str] = {}
        for free in sorted(free_names(node)):
            binding = scope.get(free)
            if binding is None:
                if hasattr(builtins, free) and free not in fn.__globals__:
                    continue
                if free in fn.__globals__ and scope.star:
                    binding = _from_globals(fn.__globals__[free], free)
            if binding is None:
                raise LiftError(_captures(free, slot, where))
            local = self._bind(binding, free, where)
            if local != free:
                renames[free] = local
        return renames

    def _bind(self, binding: ScopeBinding, free: str, where: Location) -> str:
        try:
            if binding.name is None:
                return self.tracker.module(binding.module, binding.asname)
            return self.tracker.name(binding.module, binding.name, free)
        except ImportClash as exc:
            raise LiftError(
                Diagnostic(IMPORT_CODE, f"lambda uses '{free}', but {exc}", where)
            ) from None


# ---------------------------------------------------------------------- helpers


def is_lambda(fn: object) -> TypeGuard[FunctionType]:
    return inspect.isfunction(fn) and fn.__name__ == "<lambda>"


def _resolves(fn: object, module: str, qualname: str) -> bool:
    """Whether `module.qualname` names `fn` itself (so importing it gets the same object)."""
    if "<" in qualname:
        return False
    found: object = sys.modules.get(module)
    for part in qualname.split("."):
        found = getattr(found, part, None)
        if found is None:
            return False
    return found is fn or found == fn


def _captures(name: str, slot: Slot, where: Location) -> Diagnostic:
    return Diagnostic(
        CAPTURE_CODE,
        f"the lambda passed as {slot.role} uses '{name}', which is not a module-level name",
        where,
        hint="a compiled lambda may use only its parameters and module-level names; "
        "put the value in the state or define it at module level",
    )


def _lambda_params(node: ast.Lambda, slot: Slot, where: Location) -> tuple[Param, ...]:
    args = node.args
    names = [a.arg for a in (*args.posonlyargs, *args.args)]
    plain = not (args.vararg or args.kwarg or args.kwonlyargs or args.defaults)
    if not plain or len(names) != len(slot.params):
        expected = ", ".join(p for p, _ in slot.params)
        raise LiftError(
            Diagnostic(
                ARITY_CODE,
                f"the lambda passed as {slot.role} takes {len(names)} parameter(s); "
                f"it is called with {len(slot.params)} ({expected})",
                where,
            )
        )
    return tuple(Param(n, a) for n, (_, a) in zip(names, slot.params, strict=True))


@functools.lru_cache(maxsize=64)
def _lambdas_by_line(file: str) -> dict[int, tuple[ast.Lambda, ...]]:
    tree = source.module_ast(file)
    found: dict[int, list[ast.Lambda]] = {}
    if tree is not None:
        for node in ast.walk(tree):
            if isinstance(node, ast.Lambda):
                found.setdefault(node.lineno, []).append(node)
    return {line: tuple(nodes) for line, nodes in found.items()}


def find_lambda(code: CodeType) -> ast.Lambda | None:
    """The lambda expression that compiled to `code`: by its first line, then by the position of
    its first instruction when several lambdas start on that line."""
    candidates = _lambdas_by_line(code.co_filename).get(code.co_firstlineno, ())
    if len(candidates) <= 1:
        return candidates[0] if candidates else None
    starts = [  # instruction positions in the body; RESUME and friends have an empty span
        (line, col)
        for line, end_line, col, end_col in code.co_positions()
        if line is not None and col is not None and end_col is not None
        if (end_line or line, end_col) > (line, col)
    ]
    first = min(starts, default=None)
    for node in candidates:
        body = node.body
        begin = (body.lineno, body.col_offset)
        end = (body.end_lineno or body.lineno, body.end_col_offset or body.col_offset)
        if first is not None and begin <= first <= end:
            return node
    return None


def text_of(file: str, node: ast.expr) -> str:
    """The exact source text of an expression (ast columns count UTF-8 bytes)."""
    lines = _file_lines(file)
    first, last = node.lineno - 1, (node.end_lineno or node.lineno) - 1
    end_col = node.end_col_offset if node.end_col_offset is not None else len(lines[last])
    if first == last:
        return lines[first][node.col_offset : end_col].decode("utf-8")
    parts = [lines[first][node.col_offset :], *lines[first + 1 : last], lines[last][:end_col]]
    return b"\n".join(parts).decode("utf-8")


@functools.lru_cache(maxsize=64)
def _file_lines(file: str) -> tuple[bytes, ...]:
    return tuple(Path(file).read_bytes().splitlines())


def _from_globals(value: object, name: str) -> ScopeBinding | None:
    """A name that came from a star import: import it from the module that defines it."""
    module = getattr(value, "__module__", None)
    if isinstance(value, ModuleType):
        return ScopeBinding(value.__name__, None)
    if isinstance(module, str) and getattr(value, "__name__", None) == name:
        return ScopeBinding(module, name)
    return None


def free_names(node: ast.Lambda) -> set[str]:
    """Names the lambda body reads that neither it nor a nested scope binds."""
    bound = {a.arg for a in ast.walk(node.args) if isinstance(a, ast.arg)}
    for inner in ast.walk(node.body):
        if isinstance(inner, ast.Lambda):
            bound.update(a.arg for a in ast.walk(inner.args) if isinstance(a, ast.arg))
        elif isinstance(inner, ast.comprehension):
            bound.update(n.id for n in ast.walk(inner.target) if isinstance(n, ast.Name))
        elif isinstance(inner, ast.NamedExpr) and isinstance(inner.target, ast.Name):
            bound.add(inner.target.id)
    return {
        n.id
        for n in ast.walk(node.body)
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and n.id not in bound
    }


class _Renamer(libcst.CSTTransformer):
    def __init__(self, renames: dict[str, str]) -> None:
        super().__init__()
        self.renames = renames

    def leave_Name(self, original_node: libcst.Name, updated_node: libcst.Name) -> libcst.Name:
        new = self.renames.get(original_node.value)
        return updated_node.with_changes(value=new) if new else updated_node

    def leave_Attribute(
        self, original_node: libcst.Attribute, updated_node: libcst.Attribute
    ) -> libcst.Attribute:
        return updated_node.with_changes(attr=original_node.attr)

    def leave_Arg(self, original_node: libcst.Arg, updated_node: libcst.Arg) -> libcst.Arg:
        return updated_node.with_changes(keyword=original_node.keyword)


def _rename(body: str, renames: dict[str, str]) -> str:
    """The body with free names replaced by their aliases (libcst, on this snippet only)."""
    expression = libcst.parse_expression(f"({body})")
    renamed = expression.visit(_Renamer(renames))
    assert isinstance(renamed, libcst.BaseExpression)
    text = libcst.Module(body=[]).code_for_node(renamed)
    return text[1:-1] if text.startswith("(") and text.endswith(")") else text
