"""The shape of a workflow: processes with tasks (DGR104), branches with tasks (DGR105, DGR106),
a process to start (DGR107, DGR108), one-branch parallels (DGR111, a warning), and processes on
the workflow's own state (DGR211)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from codegen import source
from codegen.checks import walk
from codegen.checks.typeinfo import type_name
from codegen.diagnostics import Diagnostic, Severity
from codegen.loader import LoadedWorkflow
from dsl.model import ParallelStep, ProcessDef


def check(workflows: Sequence[LoadedWorkflow]) -> Iterator[Diagnostic]:
    for loaded in workflows:
        workflow = loaded.workflow
        yield from _start(workflow)
        yield from _empty_processes(workflow.items)
        for step in walk.steps(workflow.items):
            yield from _branches(step)
        for process in walk.processes(workflow.items):
            yield from _process_state(process, workflow)


def _start(workflow: walk.AnyWorkflow) -> Iterator[Diagnostic]:
    if not workflow.items:
        yield Diagnostic(
            "DGR107",
            f"workflow {workflow.name!r} has no process",
            workflow.location,
            hint='chain processes and their tasks: workflow(...) >> process("NAME") >> call(...)',
        )
    elif not isinstance(workflow.items[0], ProcessDef):
        step = workflow.items[0]
        yield Diagnostic(
            "DGR108",
            f"{walk.describe(step)} comes before any process in workflow {workflow.name!r}",
            step.location,
            hint='every task belongs to a process: put process("NAME") >> before it',
        )


def _has_tasks(node: walk.AnyNode) -> bool:
    return any(True for _ in walk.steps(walk.items_of(node)))


def _empty_processes(items: Sequence[walk.AnyItem]) -> Iterator[Diagnostic]:
    """Processes without tasks, except in a branch with no task at all (reported as a branch)."""
    for item in items:
        inner = item.steps if isinstance(item, ProcessDef) else (item,)
        if isinstance(item, ProcessDef) and not inner:
            yield Diagnostic(
                "DGR104",
                f"process {item.name!r} has no tasks",
                item.location,
                hint=f'add its tasks after it: process("{item.name}") >> call(...), or remove it',
            )
        for step in inner:
            for branch in walk.branches(step):
                if _has_tasks(branch.node):
                    yield from _empty_processes(walk.items_of(branch.node))


def _branches(step: walk.AnyStep) -> Iterator[Diagnostic]:
    if isinstance(step, ParallelStep):
        yield from _parallel(step)
    for branch in walk.branches(step):
        if not _has_tasks(branch.node):
            yield Diagnostic(
                "DGR106",
                f"{branch.label} of {walk.describe(step)} has no tasks",
                branch.location,
                hint="a branch must do something: add tasks to its process, "
                "or pass a single task such as fail(...)",
            )


def _parallel(step: ParallelStep[object]) -> Iterator[Diagnostic]:
    count = len(step.branches)
    if count == 0:
        yield Diagnostic(
            "DGR105",
            "parallel() has no branches",
            step.location,
            hint="pass the branches to run at once: parallel(call(a), call(b))",
        )
    elif count == 1:
        yield Diagnostic(
            "DGR111",
            "parallel(...) has one branch, so nothing runs in parallel",
            step.location,
            hint="use the branch directly, or add the branches meant to run beside it",
            severity=Severity.WARNING,
        )


def _process_state(process: ProcessDef[object], workflow: walk.AnyWorkflow) -> Iterator[Diagnostic]:
    if process.state is None or process.state is workflow.state:
        return
    yield Diagnostic(
        "DGR211",
        f"process {process.name!r} is declared with state={type_name(process.state)} "
        f"but workflow {workflow.name!r} has state {type_name(workflow.state)}",
        source.argument_location(process.location, "state"),
        hint=f"a process runs on its workflow's state: use state={type_name(workflow.state)}",
    )
