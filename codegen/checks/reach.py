"""Unreachable tasks and processes (DGR109): whatever follows a step that always fails.

A step always fails when it is `fail(...)`, or a decide or parallel whose every branch always fails.
A process always fails when such a step is among its own tasks and it has no timeout (a process
timeout skips the rest of the process and the workflow moves on, so what follows stays reachable).
Frozen values cannot form cycles, so reachability is this one question.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from codegen.checks import walk
from codegen.diagnostics import Diagnostic
from codegen.loader import LoadedWorkflow
from dsl.model import DecideStep, FailStep, ParallelStep, ProcessDef, Step

_HINT = "remove what can never run, or move it into a branch that does not fail"


def check(workflows: Sequence[LoadedWorkflow]) -> Iterator[Diagnostic]:
    for loaded in workflows:
        yield from _sequence(loaded.workflow.items)


def failing_step(steps: Sequence[walk.AnyStep]) -> walk.AnyStep | None:
    """The first step of a sequence that always fails."""
    return next((s for s in steps if always_fails(s)), None)


def always_fails(node: walk.AnyNode) -> bool:
    if isinstance(node, FailStep):
        return True
    if isinstance(node, DecideStep | ParallelStep):
        nodes = [b.node for b in walk.branches(node)]
        return bool(nodes) and all(always_fails(n) for n in nodes)
    if isinstance(node, Step):
        return False
    return any(_item_fails(item) for item in walk.items_of(node))


def _item_fails(item: walk.AnyItem) -> bool:
    if isinstance(item, ProcessDef):
        return item.timeout is None and failing_step(item.steps) is not None
    return always_fails(item)


def _why(step: walk.AnyStep) -> str:
    if isinstance(step, FailStep):
        return f"{walk.describe(step)} on {walk.at_line(step.location)} always fails the workflow"
    return (
        f"every branch of {walk.describe(step)} on {walk.at_line(step.location)} fails the workflow"
    )


def _sequence(items: Sequence[walk.AnyItem]) -> Iterator[Diagnostic]:
    """Unreachable items of one sequence, then of every sequence nested in it."""
    for index, item in enumerate(items):
        inner: Sequence[walk.AnyStep] = item.steps if isinstance(item, ProcessDef) else (item,)
        if isinstance(item, ProcessDef):
            yield from _within_process(item)
        for step in inner:
            for branch in walk.branches(step):
                yield from _sequence(walk.items_of(branch.node))
        if index + 1 < len(items) and _item_fails(item):
            yield _after(items[index + 1], item)
            return


def _within_process(process: ProcessDef[object]) -> Iterator[Diagnostic]:
    cause = failing_step(process.steps)
    if cause is None or cause is process.steps[-1]:
        return
    after = process.steps[process.steps.index(cause) + 1]
    yield Diagnostic(
        "DGR109", f"{walk.describe(after)} can never run: {_why(cause)}", after.location, hint=_HINT
    )


def _after(item: walk.AnyItem, cause: walk.AnyItem) -> Diagnostic:
    if isinstance(cause, ProcessDef):
        failing = failing_step(cause.steps)
        assert failing is not None  # _item_fails said so
        why = f"process {cause.name!r} always fails ({_why(failing)})"
    else:
        why = _why(cause)
    what = f"process {item.name!r}" if isinstance(item, ProcessDef) else walk.describe(item)
    return Diagnostic("DGR109", f"{what} can never run: {why}", item.location, hint=_HINT)
