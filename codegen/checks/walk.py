"""Walking a workflow's tree and naming its parts in messages.

A workflow is a sequence of items (processes and, wrongly, bare tasks); a process holds tasks;
`decide` and `parallel` hold branches, each a task or a chain of processes.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Sequence

from attrs import frozen

from codegen import source
from codegen.checks.typeinfo import show_value
from dsl.errors import Location
from dsl.model import (
    CallStep,
    CommandStep,
    DecideStep,
    FailStep,
    Flow,
    Item,
    ListenStep,
    Node,
    ParallelStep,
    PollStep,
    ProcessDef,
    SleepStep,
    Step,
    Topic,
    UntilStep,
    Workflow,
)

AnyWorkflow = Workflow[object]
AnyItem = Item[object]
AnyStep = Step[object]
AnyNode = Node[object]
AnyTopic = Topic[object, str]

_KINDS: dict[type[object], str] = {
    CommandStep: "command",
    ListenStep: "listen",
    CallStep: "call",
    DecideStep: "decide",
    ParallelStep: "parallel",
    SleepStep: "sleep",
    UntilStep: "until",
    PollStep: "poll",
    FailStep: "fail",
}


@frozen
class Branch:
    """One branch of a decide or parallel step: its label in messages and where it was written."""

    label: str
    node: AnyNode
    location: Location


def items_of(node: AnyNode) -> tuple[AnyItem, ...]:
    if isinstance(node, Flow):
        return node.items
    if isinstance(node, Step):
        return (node,)
    return ()


def branches(step: AnyStep) -> list[Branch]:
    """The branches a step holds (none for plain tasks), each located at its argument."""
    if isinstance(step, ParallelStep):
        return [
            Branch(f"branch {i + 1}", node, source.argument_location(step.location, "", i))
            for i, node in enumerate(step.branches)
        ]
    if isinstance(step, DecideStep):
        if step.boolean:
            return [
                Branch(name, node, source.argument_location(step.location, name))
                for name, (_, node) in zip(("then", "otherwise"), step.branches, strict=True)
            ]
        values = _dict_entries(step.location, "branches", len(step.branches))
        return [
            Branch(
                f"branches[{show_value(label)}]", node, values[i][1] if values else step.location
            )
            for i, (label, node) in enumerate(step.branches)
        ]
    return []


def _dict_entries(location: Location, keyword: str, count: int) -> list[tuple[Location, Location]]:
    """Key and value locations of a literal dict argument, in the order a dict keeps them.

    A repeated key keeps its first position, so entries are matched to the mapping's items after
    dropping textual repeats; when that does not line up, the caller falls back to the call.
    """
    entries = dict_literal(location, keyword)
    if entries is None:
        return []
    seen: dict[str, tuple[Location, Location]] = {}
    for key, value in entries:
        text = ast.dump(key)
        value_at = source.location_of(value, location.file)
        first = seen.get(text)
        seen[text] = (first[0] if first else source.location_of(key, location.file), value_at)
    located = list(seen.values())
    return located if len(located) == count else []


def dict_literal(location: Location, keyword: str) -> list[tuple[ast.expr, ast.expr]] | None:
    """The (key, value) expressions of a `{...}` literal passed as `keyword`, if it is one."""
    call = source.call_at(location)
    arg = source.argument(call, keyword) if call is not None else None
    if not isinstance(arg, ast.Dict) or any(k is None for k in arg.keys):
        return None
    return [(k, v) for k, v in zip(arg.keys, arg.values, strict=True) if k is not None]


def label_locations(step: DecideStep[object]) -> list[Location]:
    """Where each label of a `branches` decide was written (the call when not a literal)."""
    values = _dict_entries(step.location, "branches", len(step.branches))
    if values:
        return [key for key, _ in values]
    return [source.argument_location(step.location, "branches")] * len(step.branches)


def steps(items: Sequence[AnyItem]) -> Iterator[AnyStep]:
    """Every task in `items`, depth first, including those inside branches."""
    for item in items:
        for step in item.steps if isinstance(item, ProcessDef) else (item,):
            yield step
            for branch in branches(step):
                yield from steps(items_of(branch.node))


def processes(items: Sequence[AnyItem]) -> Iterator[ProcessDef[object]]:
    """Every process in `items`, depth first, including those inside branches."""
    for item in items:
        if isinstance(item, ProcessDef):
            yield item
            inner: Sequence[AnyStep] = item.steps
        else:
            inner = (item,)
        for step in inner:
            for branch in branches(step):
                yield from processes(items_of(branch.node))


def topics(workflow: AnyWorkflow) -> list[AnyTopic]:
    """The topics a workflow sends to or listens on, in order, each once."""
    found: dict[int, AnyTopic] = {}
    for step in steps(workflow.items):
        if isinstance(step, CommandStep | ListenStep):
            found.setdefault(id(step.topic), step.topic)
    return list(found.values())


def kind(step: AnyStep) -> str:
    return _KINDS.get(type(step), type(step).__name__)


def describe(step: AnyStep) -> str:
    """`command(charges)`, `call(ship)`, `decide(...)`: a task as written, short."""
    call = source.call_at(step.location)
    if call is None:
        return f"{kind(step)}(...)"
    first = call.args[0] if call.args else None
    if isinstance(first, ast.Name | ast.Attribute) and not isinstance(step, ParallelStep):
        return f"{kind(step)}({ast.unparse(first)})"
    return f"{kind(step)}({'...' if call.args or call.keywords else ''})"


def topic_name(topic: AnyTopic) -> str:
    return f"topic {topic.name!r}"


def at_line(location: Location) -> str:
    return f"line {location.line}"
