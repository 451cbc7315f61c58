"""Names that must be unique: processes in a workflow (DGR101), workflows (DGR102), decide labels
(DGR103) and topics, which carry one message type each (DGR201)."""

from __future__ import annotations

import ast
from collections.abc import Iterator, Sequence

from codegen import source
from codegen.checks import walk
from codegen.checks.typeinfo import type_name
from codegen.diagnostics import Diagnostic, display_path
from codegen.loader import LoadedWorkflow
from dsl.errors import Location
from dsl.model import DecideStep, ProcessDef, Topic


def check(workflows: Sequence[LoadedWorkflow]) -> Iterator[Diagnostic]:
    yield from _workflow_names(workflows)
    yield from _topic_messages(workflows)
    for loaded in workflows:
        yield from _process_names(loaded.workflow)
        for step in walk.steps(loaded.workflow.items):
            if isinstance(step, DecideStep) and not step.boolean:
                yield from _labels(step)


def _where(location: Location) -> str:
    return f"{display_path(location.file)}:{location.line}"


def _workflow_names(workflows: Sequence[LoadedWorkflow]) -> Iterator[Diagnostic]:
    first: dict[str, LoadedWorkflow] = {}
    ordered = sorted(workflows, key=lambda w: w.workflow.location)
    for loaded in ordered:
        wf = loaded.workflow
        earlier = first.setdefault(wf.name, loaded)
        if earlier is loaded or earlier.workflow is wf:
            continue
        yield Diagnostic(
            "DGR102",
            f"workflow name {wf.name!r} of {loaded.variable} is already used by "
            f"{earlier.variable} at {_where(earlier.workflow.location)}",
            source.argument_location(wf.location, "name", 0),
            hint="a workflow's name identifies its instances and its generated module; rename one",
        )


def _process_sites(items: Sequence[walk.AnyItem]) -> Iterator[tuple[ProcessDef[object], Location]]:
    """Each process occurrence with where it is placed: its call, or the branch that reuses it."""
    seen: set[int] = set()

    def visit(
        items: Sequence[walk.AnyItem], site: Location | None
    ) -> Iterator[tuple[ProcessDef[object], Location]]:
        for item in items:
            if isinstance(item, ProcessDef):
                reused = id(item) in seen
                seen.add(id(item))
                yield item, (site if reused and site is not None else item.location)
            for step in item.steps if isinstance(item, ProcessDef) else (item,):
                for branch in walk.branches(step):
                    yield from visit(walk.items_of(branch.node), branch.location)

    yield from visit(items, None)


def _process_names(workflow: walk.AnyWorkflow) -> Iterator[Diagnostic]:
    first: dict[str, Location] = {}
    for process, site in _process_sites(workflow.items):
        earlier = first.setdefault(process.name, site)
        if earlier is site:
            continue
        yield Diagnostic(
            "DGR101",
            f"process name {process.name!r} is used twice in workflow {workflow.name!r} "
            f"(first at {_where(earlier)})",
            site,
            hint="process names identify a workflow's nodes; give each process its own name "
            "(to reuse a chain, build it in a function that takes the name)",
        )


_LABEL_HINT = "a dict keeps one value per key: give each label exactly one branch"


def _labels(step: DecideStep[object]) -> Iterator[Diagnostic]:
    entries = walk.dict_literal(step.location, "branches")
    if entries is None:
        return
    repeated = _repeated_labels(step, entries)
    yield from repeated
    if not repeated and len(entries) > len(step.branches):
        yield Diagnostic(
            "DGR103",
            f"{walk.describe(step)} has {len(entries)} labels but only {len(step.branches)} "
            "distinct ones: labels that compare equal (such as 1 and True) keep only the last branch",
            source.argument_location(step.location, "branches"),
            hint=_LABEL_HINT,
        )


def _repeated_labels(
    step: DecideStep[object], entries: list[tuple[ast.expr, ast.expr]]
) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    seen: dict[str, ast.expr] = {}
    for key, _ in entries:
        text = ast.dump(key)
        if text in seen:
            label = ast.unparse(key)
            found.append(
                Diagnostic(
                    "DGR103",
                    f"{walk.describe(step)} has label {label} twice (first at line {seen[text].lineno}); "
                    "only the last of its branches would be kept",
                    source.location_of(key, step.location.file),
                    hint=_LABEL_HINT,
                )
            )
        seen.setdefault(text, key)
    return found


def _all_topics(workflows: Sequence[LoadedWorkflow]) -> list[walk.AnyTopic]:
    found: dict[int, walk.AnyTopic] = {}
    for loaded in workflows:
        for topic in walk.topics(loaded.workflow):
            found.setdefault(id(topic), topic)
        for value in vars(loaded.namespace).values():
            if isinstance(value, Topic):
                found.setdefault(id(value), value)
    return sorted(found.values(), key=lambda t: t.location)


def _topic_messages(workflows: Sequence[LoadedWorkflow]) -> Iterator[Diagnostic]:
    first: dict[str, walk.AnyTopic] = {}
    for topic in _all_topics(workflows):
        earlier = first.setdefault(topic.name, topic)
        if earlier.message is topic.message:
            continue
        yield Diagnostic(
            "DGR201",
            f"topic {topic.name!r} is declared with message {type_name(topic.message)} here but "
            f"with {type_name(earlier.message)} at {_where(earlier.location)}",
            source.argument_location(topic.location, "message", 1),
            hint="a Kafka topic carries one message type; give this topic its own name",
        )
