"""Callables a compiled workflow cannot use (DGR110): lambdas and functions that capture local
variables (`__code__.co_freevars`), and named functions defined inside another function, which the
generated module cannot import. A lambda is lifted from its source, so only its captures matter."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from types import FunctionType

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
