"""Graphs from the IR: processes as subgraphs, decisions as diamonds with labelled edges,
parallel tasks forking into their branches and joining again."""

from __future__ import annotations

import re

import pytest
from codegen_support import (
    CASES,
    fresh_input,  # noqa: F401 - a fixture: pytest finds it by name
)

from codegen.graph import dot, mermaid
from codegen.ir import NodeIR
from codegen.pipeline import lower_one


def nodes_of(case: str, variable: str) -> tuple[NodeIR, ...]:
    ir, diagnostics = lower_one(str(CASES / case / "input.py"), variable)
    assert ir is not None, diagnostics
    return ir.nodes


def edges(text: str) -> list[tuple[str, str, str]]:
    """(source, target, label) of every Mermaid edge."""
    found = re.findall(r"^\s+(\S+) -->(?:\|\"([^\"]*)\"\|)? (\S+)$", text, re.MULTILINE)
    return [(source, target, label) for source, label, target in found]


@pytest.mark.usefixtures("fresh_input")
def test_parallel_forks_into_each_branch_and_joins_them() -> None:
    text = mermaid(nodes_of("build_parallel", "Reports"))
    # GATHER: parallel n2 (sales n3, STOCK flow n4..n7) then parallel any n8 (n9, n10)
    assert ("n2", "n3", "") in edges(text)
    assert ("n3", "n2_join", "") in edges(text)
    assert ("n2", "n6", "") in edges(text)  # into the first task of the STOCK flow
    assert ("n7", "n2_join", "") in edges(text)  # out of its last
    assert ("n2_join", "n8", "") in edges(text)
    assert '    n8_join(("any"))' in text
    assert '        n2{{"parallel"}}' in text


@pytest.mark.usefixtures("fresh_input")
def test_decisions_label_each_branch_and_every_branch_flows_on() -> None:
    text = mermaid(nodes_of("build_decide", "Signups"))
    found = edges(text)
    assert ("n2", "n3", "then") in found
    assert ("n2", "n4", "otherwise") in found
    assert ("n5", "n6", "Tier.FREE") in found
    assert ("n5", "n9", "Tier.PRO") in found
    assert {("n3", "n5", ""), ("n4", "n5", "")} <= set(found)
    assert '        n2{"decide"}' in text


@pytest.mark.usefixtures("fresh_input")
def test_every_task_is_drawn_once_inside_its_process() -> None:
    nodes = nodes_of("build_orders", "OrderWorkflow")
    text = mermaid(nodes)
    tasks = [n for n in nodes if n.kind not in ("Sequence_", "Process")]
    for node in tasks:
        declared = re.findall(rf"^\s+n{node.id}[\[({{]", text, re.MULTILINE)
        assert len(declared) == 1, node.name
    assert text.count("subgraph ") == sum(1 for n in nodes if n.kind == "Process")
    assert text.count("subgraph ") == text.count("    end\n")


@pytest.mark.usefixtures("fresh_input")
def test_dot_has_the_same_nodes_and_edges_as_mermaid() -> None:
    nodes = nodes_of("build_orders", "OrderWorkflow")
    text = dot(nodes)
    dot_edges = re.findall(r"^\s+(\S+) -> (\S+?)(?: \[label=\"([^\"]*)\"\])?;$", text, re.MULTILINE)
    assert sorted(dot_edges) == sorted(edges(mermaid(nodes)))
    assert 'n4 [label="decide", shape=diamond];' in text
    assert text.count("subgraph cluster_") == sum(1 for n in nodes if n.kind == "Process")


def test_labels_are_escaped() -> None:
    nodes = (
        NodeIR(0, "Sequence_", "Sequence_", 'W "1"', -1, "x.py:1", 'W "1"', (1,)),
        NodeIR(1, "Call", "Call", "call", 0, "x.py:2", 'call "q"'),
    )
    assert '["call #quot;q#quot;"]' in mermaid(nodes)
    assert 'label="call \\"q\\""' in dot(nodes)
