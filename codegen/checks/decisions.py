"""Decisions over labels: exhaustive over an Enum, Literal or bool (DGR208), labels of the type the
chooser returns (DGR209). The chooser's type comes from a named function's return annotation, or a
lambda's attribute chain (`lambda o: o.status`). A then/otherwise decide is always exhaustive."""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Iterator, Sequence

from codegen import source
from codegen.checks import typeinfo, walk
from codegen.checks.typeinfo import show_value, type_name
from codegen.diagnostics import Diagnostic
from codegen.loader import LoadedWorkflow
from dsl.errors import Location
from dsl.model import DecideStep


def check(workflows: Sequence[LoadedWorkflow]) -> Iterator[Diagnostic]:
    for loaded in workflows:
        state = loaded.workflow.state
        for step in walk.steps(loaded.workflow.items):
            if isinstance(step, DecideStep) and not step.boolean:
                yield from _decision(step, state)


def domain(tp: object) -> tuple[object, ...] | None:
    """Every value of a finite type (bool, None, an Enum, a Literal, a union of them), or None."""
    if tp is bool or tp is type(None):
        return (True, False) if tp is bool else (None,)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tuple(tp)
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return typing.get_args(tp)
    if origin not in (typing.Union, types.UnionType):
        return None
    parts = [domain(arg) for arg in typing.get_args(tp)]
    if any(part is None for part in parts):
        return None
    return tuple(value for part in parts if part is not None for value in part)


def _same(a: object, b: object) -> bool:
    return type(a) is type(b) and a == b


def _decision(step: DecideStep[object], state: object) -> Iterator[Diagnostic]:
    found = typeinfo.returns(step.choose, [state])
    if found is None:
        return
    chosen = found.tp
    labels = [label for label, _ in step.branches]
    values = domain(chosen)
    locations = walk.label_locations(step)
    for label, where in zip(labels, locations, strict=True):
        wrong = _wrong_label(label, chosen, values)
        if wrong is not None:
            yield _label_diagnostic(step, label, wrong, where)
    if values is not None:
        missing = [v for v in values if not any(_same(v, label) for label in labels)]
        if missing:
            yield Diagnostic(
                "DGR208",
                f"{walk.describe(step)} has no branch for {', '.join(show_value(v) for v in missing)}; "
                f"'choose' returns {type_name(chosen)}, and each of its values needs a branch",
                source.argument_location(step.location, "branches"),
                hint=f"add the missing branches, one for each value of {type_name(chosen)}",
            )


def _wrong_label(label: object, chosen: object, values: tuple[object, ...] | None) -> str | None:
    """Why `label` cannot be chosen, or None when it can."""
    if values is not None:
        if any(_same(label, v) for v in values):
            return None
        return (
            f"is not a value 'choose' can return; expected one of "
            f"{', '.join(show_value(v) for v in values)} ({type_name(chosen)})"
        )
    base = typeinfo.newtype_base(chosen)
    if isinstance(base, type) and not isinstance(label, base):
        return f"has type {type(label).__name__}, but 'choose' returns {type_name(chosen)}"
    return None


def _label_diagnostic(
    step: DecideStep[object], label: object, why: str, where: Location
) -> Diagnostic:
    return Diagnostic(
        "DGR209",
        f"label {show_value(label)} of {walk.describe(step)} {why}",
        where,
        hint="label each branch with a value that 'choose' can return",
    )
