"""Workflow graphs from the IR: Mermaid and Graphviz DOT text.

Processes are subgraphs, tasks are nodes; a decision is a diamond with one labelled edge per
branch, a parallel task forks into its branches and joins them again (`all` or `any`).
"""

from __future__ import annotations

from collections.abc import Sequence

from attrs import frozen

from codegen.ir import NodeIR

_CONTAINERS = ("Sequence_", "Process")

# node kind -> (mermaid opening, mermaid closing, dot shape)
_SHAPES: dict[str, tuple[str, str, str]] = {
    "Command": ("[/", "/]", "parallelogram"),
    "Listen": ("[\\", "\\]", "invhouse"),
    "Call": ("[", "]", "box"),
    "Decide": ("{", "}", "diamond"),
    "Parallel": ("{{", "}}", "hexagon"),
    "Sleep": ("([", "])", "ellipse"),
    "Until": ("([", "])", "ellipse"),
    "Poll": ("([", "])", "ellipse"),
    "Fail": ("[[", "]]", "octagon"),
    "Sequence_": ("[", "]", "box"),
    "Process": ("[", "]", "box"),
}


@frozen
class Edge:
    source: str
    target: str
    label: str = ""


class _Wiring:
    """The edges between graph nodes: what each IR node is entered by and left from."""

    def __init__(self, nodes: Sequence[NodeIR]) -> None:
        self.nodes = nodes
        self.edges: list[Edge] = []
        self.joins: list[NodeIR] = []

    def wire(self, node: NodeIR) -> tuple[list[str], list[str]]:
        """(entries, exits) of `node`'s part of the graph, adding the edges inside it."""
        ident = f"n{node.id}"
        if node.kind in _CONTAINERS and node.children:
            entries, exits = self.wire(self.nodes[node.children[0]])
            for child in node.children[1:]:
                child_entries, child_exits = self.wire(self.nodes[child])
                self._connect(exits, child_entries)
                exits = child_exits
            return entries, exits
        if node.kind == "Decide":
            exits = []
            for index, child in enumerate(node.children):
                child_entries, child_exits = self.wire(self.nodes[child])
                label = node.branch_labels[index] if index < len(node.branch_labels) else ""
                self._connect([ident], child_entries, label)
                exits += child_exits
            return [ident], exits or [ident]
        if node.kind == "Parallel":
            join = f"{ident}_join"
            self.joins.append(node)
            for child in node.children:
                child_entries, child_exits = self.wire(self.nodes[child])
                self._connect([ident], child_entries)
                self._connect(child_exits, [join])
            return [ident], [join]
        return [ident], [ident]

    def _connect(self, sources: list[str], targets: list[str], label: str = "") -> None:
        self.edges.extend(Edge(s, t, label) for s in sources for t in targets)


def _join_label(node: NodeIR) -> str:
    for arg in node.args:
        if arg.keyword == "join":
            return arg.value.strip('"')
    return "all"


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;")


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def mermaid(nodes: Sequence[NodeIR]) -> str:
    """A Mermaid flowchart of the workflow."""
    if not nodes:
        return "flowchart TD\n"
    wiring = _Wiring(nodes)
    wiring.wire(nodes[0])
    lines = ["flowchart TD"]
    _mermaid_declare(nodes, nodes[0], lines, 1)
    for node in wiring.joins:
        lines.append(f'    n{node.id}_join(("{_join_label(node)}"))')
    for edge in wiring.edges:
        arrow = f'-->|"{_mermaid_text(edge.label)}"|' if edge.label else "-->"
        lines.append(f"    {edge.source} {arrow} {edge.target}")
    return "\n".join(lines) + "\n"


def _mermaid_declare(nodes: Sequence[NodeIR], node: NodeIR, lines: list[str], depth: int) -> None:
    pad = "    " * depth
    label = _mermaid_text(node.label)
    if node.kind == "Process":
        lines.append(f'{pad}subgraph p{node.id}["{label}"]')
        for child in node.children:
            _mermaid_declare(nodes, nodes[child], lines, depth + 1)
        if not node.children:
            lines.append(f'{pad}    n{node.id}[" "]')
        lines.append(f"{pad}end")
        return
    if node.kind == "Sequence_" and node.children:
        for child in node.children:
            _mermaid_declare(nodes, nodes[child], lines, depth)
        return
    opening, closing, _ = _SHAPES[node.kind]
    lines.append(f'{pad}n{node.id}{opening}"{label}"{closing}')
    for child in node.children:
        _mermaid_declare(nodes, nodes[child], lines, depth)


def dot(nodes: Sequence[NodeIR]) -> str:
    """A Graphviz digraph of the workflow (`dot -Tsvg` draws it)."""
    name = _dot_text(nodes[0].label) if nodes else "workflow"
    lines = [f'digraph "{name}" {{', "    rankdir=TB;", '    node [fontname="Helvetica"];']
    if nodes:
        wiring = _Wiring(nodes)
        wiring.wire(nodes[0])
        _dot_declare(nodes, nodes[0], lines, 1)
        for node in wiring.joins:
            lines.append(
                f'    n{node.id}_join [label="{_join_label(node)}", shape=circle, fixedsize=true];'
            )
        for edge in wiring.edges:
            attrs = f' [label="{_dot_text(edge.label)}"]' if edge.label else ""
            lines.append(f"    {edge.source} -> {edge.target}{attrs};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_declare(nodes: Sequence[NodeIR], node: NodeIR, lines: list[str], depth: int) -> None:
    pad = "    " * depth
    label = _dot_text(node.label)
    if node.kind == "Process":
        lines.append(f"{pad}subgraph cluster_{node.id} {{")
        lines.append(f'{pad}    label="{label}";')
        for child in node.children:
            _dot_declare(nodes, nodes[child], lines, depth + 1)
        if not node.children:
            lines.append(f'{pad}    n{node.id} [label="", shape=point];')
        lines.append(f"{pad}}}")
        return
    if node.kind == "Sequence_" and node.children:
        for child in node.children:
            _dot_declare(nodes, nodes[child], lines, depth)
        return
    shape = _SHAPES[node.kind][2]
    lines.append(f'{pad}n{node.id} [label="{label}", shape={shape}];')
    for child in node.children:
        _dot_declare(nodes, nodes[child], lines, depth)
