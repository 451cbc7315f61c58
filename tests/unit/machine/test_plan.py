"""Malformed node tables are refused on first use, naming the node at fault."""

from __future__ import annotations

from datetime import timedelta

import pytest
from attrs import evolve

from runtime.machine import InvalidWorkflow, start
from runtime.types import CompiledWorkflow, Decide, Node, Process, Sequence_, Sleep

from .builders import Doc, call, listen, process, topic, workflow

PACKED = topic("PACKED")


def _base() -> CompiledWorkflow[Doc]:
    return workflow(process("P", listen("a", PACKED), call("b")), name="Bad")


def _with(wf: CompiledWorkflow[Doc], index: int, node: Node[Doc]) -> CompiledWorkflow[Doc]:
    nodes = list(wf.nodes)
    nodes[index] = node
    return evolve(wf, nodes=tuple(nodes))


def _refused(wf: CompiledWorkflow[Doc]) -> str:
    with pytest.raises(InvalidWorkflow) as caught:
        start(wf, Doc("k"), now=0.0)
    return str(caught.value)


def test_a_well_formed_table_is_accepted() -> None:
    assert start(_base(), Doc("k"), now=0.0).instance.nodes[2].started_at == 0.0


def test_an_empty_table_is_refused() -> None:
    assert _refused(evolve(_base(), nodes=())) == "workflow Bad: the node table is empty"


def test_the_root_must_be_a_sequence() -> None:
    wf = _with(_base(), 0, Process(id=0, name="Bad", parent=-1, children=(1,)))
    assert "nodes[0] must be the root Sequence_ with parent -1 (got Process" in _refused(wf)


def test_ids_must_match_positions() -> None:
    wf = _base()
    wf = _with(wf, 2, evolve(wf.nodes[2], id=7))
    assert _refused(wf) == "workflow Bad: node 7 'a' has id 7 but stands at index 2"


def test_children_must_come_later_in_the_table() -> None:
    wf = _with(_base(), 1, Process(id=1, name="P", parent=0, children=(0, 2), line="x.py:3"))
    assert (
        _refused(wf)
        == "workflow Bad: node 1 'P' (x.py:3) lists child 0, which is not a later node of the table"
    )


def test_a_node_no_one_lists_is_refused() -> None:
    wf = _with(_base(), 1, Process(id=1, name="P", parent=0, children=(2,)))
    assert _refused(wf) == "workflow Bad: node 3 'b' is no node's child, so it can never run"


def test_a_parent_field_that_disagrees_with_the_table_is_refused() -> None:
    wf = _base()
    wf = _with(wf, 3, evolve(wf.nodes[3], parent=2))
    assert "node 3 'b' says its parent is 2, but node 1 lists it" in _refused(wf)


def test_a_decision_needs_one_label_per_child() -> None:
    wf = _with(
        _base(), 1, Decide(id=1, name="D", parent=0, choose=bool, labels=(True,), children=(2, 3))
    )
    assert "node 1 'D' has 1 labels for 2 children" in _refused(wf)


def test_unknown_node_classes_are_refused() -> None:
    class Custom(Sleep[Doc]):
        pass

    wf = _base()
    wf = _with(wf, 3, Custom(id=3, name="c", parent=1, delay=lambda d: timedelta(0)))
    assert "node 3 'c' is a Custom, which the machine does not know" in _refused(wf)


def test_a_sequence_listed_twice_is_refused() -> None:
    wf = _with(_base(), 0, Sequence_(id=0, name="Bad", parent=-1, children=(1, 1)))
    assert "lists child 1, which node 0 lists too" in _refused(wf)
