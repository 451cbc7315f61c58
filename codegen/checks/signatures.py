"""Callables against what the runtime passes them and needs back (DGR202, 205-207, 209, 210, 212).

Parameters are checked where a named function annotates them; results where the type can be told
(see `typeinfo`). Lambdas are otherwise left to mypy, which checks the generated module.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Sequence
from types import FunctionType

from codegen.checks import typeinfo, uses, walk
from codegen.checks.typeinfo import type_name
from codegen.checks.uses import Expect, Use
from codegen.diagnostics import Diagnostic
from codegen.loader import LoadedWorkflow

_HINTS = {
    "DGR202": "a command's builder takes the workflow state and returns the topic's message type",
    "DGR204": "'match' takes the workflow state and returns the topic's key",
    "DGR205": "'delay' returns a timedelta; 'at' and 'deadline' return an aware datetime",
    "DGR206": "a call(...) function takes the state and returns the new state (or awaits it)",
    "DGR207": "'on' takes (state, message) and 'on_timeout' takes the state; both return the state",
    "DGR209": "a then/otherwise predicate takes the state and returns bool",
    "DGR210": "a key function returns str or a NewType of str (e.g. OrderId)",
    "DGR212": "a poll check returns bool; a fail reason returns str",
}


def check(workflows: Sequence[LoadedWorkflow]) -> Iterator[Diagnostic]:
    seen_topics: set[int] = set()
    for loaded in workflows:
        for use in uses.workflow_uses(loaded.workflow):
            yield from check_use(use)
        for topic in walk.topics(loaded.workflow):
            if id(topic) not in seen_topics:
                seen_topics.add(id(topic))
                for use in uses.topic_uses(topic):
                    yield from check_use(use)


def check_use(use: Use) -> Iterator[Diagnostic]:
    """Problems of one callable: how many arguments, which types, which result."""
    fn = typeinfo.function(use.fn)
    if fn is None:
        return
    problem = _arity(fn, use) or _parameters(fn, use) or _result(use)
    if problem is not None:
        yield Diagnostic(use.code, problem, use.location, hint=_HINTS[use.code])


def _subject(use: Use) -> str:
    return f"'{use.arg}' of {use.owner}"


def _arity(fn: FunctionType, use: Use) -> str | None:
    if typeinfo.accepts(fn, len(use.params)) is not False:
        return None
    roles = ", ".join(p.role for p in use.params)
    count = len(use.params)
    takes = _required(fn)
    return (
        f"{_subject(use)}: {typeinfo.describe_callable(fn)} takes {takes} argument"
        f"{'s' if takes != 1 else ''}, expected {count} ({roles})"
    )


def _required(fn: FunctionType) -> int:
    params = typeinfo.positional_params(fn) or []
    return sum(1 for p in params if p.default is inspect.Parameter.empty)


def _parameters(fn: FunctionType, use: Use) -> str | None:
    if typeinfo.is_lambda(fn):
        return None
    declared = typeinfo.hints(fn)
    params = typeinfo.positional_params(fn)
    if not declared or params is None:
        return None
    for param, expect in zip(params, use.params, strict=False):
        annotation = declared.get(param.name)
        if annotation is not None and typeinfo.is_assignable(expect.tp, annotation) is False:
            return (
                f"{_subject(use)} takes {type_name(annotation)} as {param.name!r}, "
                f"expected {_expected(expect)}"
            )
    return None


def _result(use: Use) -> str | None:
    if use.result is None:
        return None
    found = uses.result_of(use)
    if found is None:
        return None
    got = typeinfo.awaited(found.tp) if use.awaitable else found.tp
    if typeinfo.is_assignable(got, use.result.tp) is not False:
        return None
    return f"{_subject(use)} returns {type_name(got)}, expected {_expected(use.result)}"


def _expected(expect: Expect) -> str:
    return f"{type_name(expect.tp)} ({expect.role})"
