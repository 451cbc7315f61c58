"""Callables a compiled workflow cannot use: lambdas and functions that capture local variables
(`__code__.co_freevars`) or are defined inside another function, which the generated module cannot
import (DGR110); and callables that use a global name their module does not define (DGR112), which
would fail at run time. A lambda is lifted from its source, so only its captures and names matter."""

from __future__ import annotations

import builtins
import dis
from collections.abc import Iterator, Sequence
from types import CodeType, FunctionType

from codegen import source
from codegen.checks import typeinfo, uses, walk
from codegen.diagnostics import Diagnostic
from codegen.loader import LoadedWorkflow
from dsl.errors import Location

_HINT = "use a module-level name instead, or carry the value in the workflow state"


def check(workflows: Sequence[LoadedWorkflow]) -> Iterator[Diagnostic]:
    seen: set[int] = set()
    for loaded in workflows:
        found = [*uses.workflow_uses(loaded.workflow)]
        for topic in walk.topics(loaded.workflow):
            found.extend(uses.topic_uses(topic))
        for use in found:
            if id(use.fn) not in seen:
                seen.add(id(use.fn))
                yield from _use(use)


def _use(use: uses.Use) -> Iterator[Diagnostic]:
    fn = typeinfo.function(use.fn)
    if fn is None:
        return
    yield from _unknown(fn, use)
    captured = fn.__code__.co_freevars
    if captured:
        names = ", ".join(repr(name) for name in captured)
        plural = "s" if len(captured) > 1 else ""
        what = "lambda" if typeinfo.is_lambda(fn) else f"function {fn.__qualname__!r}"
        yield Diagnostic(
            "DGR110",
            f"{what} captures local variable{plural} {names}; "
            "a compiled workflow can only use module-level names",
            _where(fn, use.location),
            hint=_HINT,
        )
    elif "<locals>" in fn.__qualname__ and not typeinfo.is_lambda(fn):
        yield Diagnostic(
            "DGR110",
            f"function {fn.__qualname__!r} ('{use.arg}' of {use.owner}) is defined inside "
            "another function; a compiled workflow can only use module-level names",
            use.location,
            hint="define the function at module level so the generated module can import it",
        )


def _where(fn: FunctionType, fallback: Location) -> Location:
    """The lambda itself, wherever it was written (a factory function, another module)."""
    if typeinfo.is_lambda(fn):
        node = typeinfo.lambda_node(fn)
        if node is not None:
            return source.location_of(node, fn.__code__.co_filename)
    return fallback


def unknown_names(fn: FunctionType) -> list[str]:
    """Global names `fn` loads (nested comprehensions included) that are neither in its module
    nor builtins."""
    loaded: set[str] = set()
    pending = [fn.__code__]
    while pending:
        code = pending.pop()
        loaded |= {i.argval for i in dis.get_instructions(code) if i.opname in _GLOBAL_LOADS}
        pending += [c for c in code.co_consts if isinstance(c, CodeType)]
    return sorted(n for n in loaded if n not in fn.__globals__ and not hasattr(builtins, n))


_GLOBAL_LOADS = frozenset({"LOAD_GLOBAL", "LOAD_NAME"})


def _unknown(fn: FunctionType, use: uses.Use) -> Iterator[Diagnostic]:
    missing = unknown_names(fn)
    if not missing:
        return
    what = "lambda" if typeinfo.is_lambda(fn) else f"function {fn.__qualname__!r}"
    names = ", ".join(repr(name) for name in missing)
    yield Diagnostic(
        "DGR112",
        f"{what} ('{use.arg}' of {use.owner}) uses {names}, which module {fn.__module__} "
        "does not define",
        _where(fn, use.location),
        hint="define or import the name at module level (check its spelling)",
    )
