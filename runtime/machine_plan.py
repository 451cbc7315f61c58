"""What the machine precomputes once per `CompiledWorkflow`: parents, siblings, subtrees.

The node table is checked here, once, so that a malformed table fails loudly with the node it
concerns instead of misbehaving on some later event.
"""

from __future__ import annotations

from typing import Any, Final

from attrs import frozen

from runtime.types import (
    Call,
    Command,
    CompiledWorkflow,
    Decide,
    Fail,
    Listen,
    Node,
    NodeRun,
    Parallel,
    Poll,
    Process,
    Sequence_,
    Sleep,
    Until,
)

NODE_KINDS: Final = frozenset(
    {Sequence_, Process, Command, Listen, Call, Decide, Parallel, Sleep, Until, Poll, Fail}
)
_CACHE_LIMIT: Final = 256
_BLANK: Final = NodeRun()


class InvalidWorkflow(ValueError):
    """A node table that breaks the rules of runtime/types.py; the text names the node."""


@frozen
class Plan:
    """Lookups over one node table: `subtree[n]` is n followed by all its descendants."""

    parent: tuple[int, ...]
    next_sibling: tuple[int, ...]  # -1 for the last child or a child of a decide/parallel
    subtree: tuple[tuple[int, ...], ...]
    blank: tuple[NodeRun, ...]


_PLANS: dict[int, tuple[CompiledWorkflow[Any], Plan]] = {}


def plan_for(wf: CompiledWorkflow[Any]) -> Plan:
    """The cached plan of `wf`, checking its node table the first time it is seen."""
    entry = _PLANS.get(id(wf))
    if entry is not None and entry[0] is wf:
        return entry[1]
    plan = _build(wf)
    if len(_PLANS) >= _CACHE_LIMIT:
        del _PLANS[next(iter(_PLANS))]
    _PLANS[id(wf)] = (wf, plan)
    return plan


def children_of(node: Node[Any]) -> tuple[int, ...]:
    if isinstance(node, Sequence_ | Process | Decide | Parallel):
        return node.children
    return ()


def _build(wf: CompiledWorkflow[Any]) -> Plan:
    nodes = wf.nodes
    _check_root(wf)
    parent = [-1] * len(nodes)
    next_sibling = [-1] * len(nodes)
    for index, node in enumerate(nodes):
        _check_node(wf, node, index)
        kids = children_of(node)
        sequential = isinstance(node, Sequence_ | Process)
        for position, child in enumerate(kids):
            _check_child(wf, node, child, parent)
            parent[child] = node.id
            if sequential and position + 1 < len(kids):
                next_sibling[child] = kids[position + 1]
    for node in nodes[1:]:
        if parent[node.id] == -1:
            _invalid(wf, node, "is no node's child, so it can never run")
        if parent[node.id] != node.parent:
            _invalid(
                wf, node, f"says its parent is {node.parent}, but node {parent[node.id]} lists it"
            )
    return Plan(
        parent=tuple(parent),
        next_sibling=tuple(next_sibling),
        subtree=_subtrees(nodes),
        blank=(_BLANK,) * len(nodes),
    )


def _subtrees(nodes: tuple[Node[Any], ...]) -> tuple[tuple[int, ...], ...]:
    subtree: list[tuple[int, ...]] = [()] * len(nodes)
    for node in reversed(nodes):  # children have larger ids, so they are done first
        ids = [node.id]
        for child in children_of(node):
            ids.extend(subtree[child])
        subtree[node.id] = tuple(ids)
    return tuple(subtree)


def _check_root(wf: CompiledWorkflow[Any]) -> None:
    if not wf.nodes:
        raise InvalidWorkflow(f"workflow {wf.name}: the node table is empty")
    root = wf.nodes[0]
    if type(root) is not Sequence_ or root.parent != -1:
        raise InvalidWorkflow(
            f"workflow {wf.name}: nodes[0] must be the root Sequence_ with parent -1 "
            f"(got {type(root).__name__} with parent {root.parent})"
        )


def _check_node(wf: CompiledWorkflow[Any], node: Node[Any], index: int) -> None:
    if index != node.id:
        _invalid(wf, node, f"has id {node.id} but stands at index {index}")
    if type(node) not in NODE_KINDS:
        _invalid(wf, node, f"is a {type(node).__name__}, which the machine does not know")
    if isinstance(node, Decide) and len(node.labels) != len(node.children):
        _invalid(wf, node, f"has {len(node.labels)} labels for {len(node.children)} children")
    if isinstance(node, Parallel) and node.join not in ("all", "any"):
        _invalid(wf, node, f"has join {node.join!r}; expected 'all' or 'any'")


def _check_child(wf: CompiledWorkflow[Any], node: Node[Any], child: int, parent: list[int]) -> None:
    if not node.id < child < len(wf.nodes):
        _invalid(wf, node, f"lists child {child}, which is not a later node of the table")
    if parent[child] != -1:
        _invalid(wf, node, f"lists child {child}, which node {parent[child]} lists too")


def _invalid(wf: CompiledWorkflow[Any], node: Node[Any], problem: str) -> None:
    where = f" ({node.line})" if node.line else ""
    raise InvalidWorkflow(f"workflow {wf.name}: node {node.id} {node.name!r}{where} {problem}")
