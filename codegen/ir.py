"""The compiler's intermediate representation of one workflow: everything a template prints.

Lowering (`codegen.lower`) computes every name, type annotation, expression and import here, in
Python; the Jinja templates only print these values. Nodes are in depth-first pre-order: a node's
id is its index, parents come before their children.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

from attrs import frozen

from codegen.imports import member_key
from dsl.errors import Location

NO_PARENT = -1


@frozen
class Origin:
    """Where the user code behind a lifted function was written, to map mypy errors back to it."""

    location: Location  # the lambda, or the argument that names the user's function
    what: str  # "lambda" or "on=record_payment"
    code: str  # the DGR3nn code its type errors get
    body: Location | None = None  # a lambda's body expression


@frozen
class Param:
    name: str
    annotation: str


@frozen
class Function:
    """A lifted, fully annotated function: a user lambda, a wrapper around a user function or a
    constant. Its body is one returned expression."""

    name: str
    params: tuple[Param, ...]
    returns: str
    body: str
    comment: str  # "examples/orders.py:118:25 command(build=...)"
    origin: Origin
    is_async: bool = False

    @property
    def signature(self) -> str:
        params = ", ".join(f"{p.name}: {p.annotation}" for p in self.params)
        prefix = "async def" if self.is_async else "def"
        return f"{prefix} {self.name}({params}) -> {self.returns}:"

    @property
    def statement(self) -> str:
        """`return <body>`; a body written over several lines is parenthesised."""
        if "\n" in self.body:
            return f"return (\n{self.body}\n)"
        return f"return {self.body}"


@frozen
class CodecField:
    """One attrs field: how it is written to JSON and read back."""

    attribute: str
    key: str  # the JSON key, the field's init name
    encode: str  # an expression over `v`
    decode: str  # an expression over `o[key]`
    default: str | None = None  # the default's expression when the field may be absent


@frozen
class Codec:
    """The specialised encoder and decoder of one attrs class (and bytes variants for messages)."""

    type_name: str  # the class as the module refers to it
    label: str  # the class as errors name it
    encode: str
    decode: str
    fields: tuple[CodecField, ...]
    encode_bytes: str | None = None
    decode_bytes: str | None = None

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(f.key for f in self.fields if f.default is None)

    @property
    def optional(self) -> tuple[str, ...]:
        return tuple(f.key for f in self.fields if f.default is not None)


@frozen
class TopicIR:
    constant: str  # the module constant, e.g. PAYMENT_COMMAND
    name: str  # the Kafka topic
    message: str  # the message type as written in the module
    key_function: Function  # the lifted key function, emitted just before the constant
    encode: str
    decode: str


@frozen
class Arg:
    """A keyword argument of a node constructor, as source text."""

    keyword: str
    value: str


@frozen
class NodeIR:
    id: int
    kind: str  # the runtime class: "Sequence_", "Process", "Command", ...
    cls: str  # that class as the module refers to it
    name: str  # unique and human readable: "PAYMENT/command PAYMENT_COMMAND"
    parent: int
    line: str  # "examples/orders.py:116"
    label: str  # what a graph shows: "command PAYMENT_COMMAND"
    children: tuple[int, ...] = ()
    args: tuple[Arg, ...] = ()
    branch_labels: tuple[str, ...] = ()  # per child, for decisions

    @property
    def has_children(self) -> bool:
        return self.kind in ("Sequence_", "Process", "Decide", "Parallel")


@frozen
class Names:
    """Runtime names the templates write, as imported into the module."""

    compiled_workflow: str
    node: str
    topic_spec: str
    json: str
    transition: str
    instance: str
    event: str
    machine: str
    codec: str


@frozen
class WorkflowIR:
    variable: str  # "OrderWorkflow": the handle's name in the generated module
    name: str  # the workflow's name
    source: str  # "examples/orders.py:OrderWorkflow"
    module: str  # the generated module's name, e.g. "orders"
    state: str  # the state type as written in the module
    key: str  # the lifted key function
    state_codec: Codec
    codecs: tuple[Codec, ...]
    topics: tuple[TopicIR, ...]
    functions: tuple[Function, ...]
    nodes: tuple[NodeIR, ...]
    names: Names
    graph: str = ""
    version: str = ""
    imports: tuple[str, ...] = ()

    @property
    def exports(self) -> tuple[str, ...]:
        """`__all__`: the handle, the transition functions, the codecs and the topics, sorted."""
        names = {self.variable, "NODES", "start", "apply"}
        for codec in self.codecs:
            names.update(
                n for n in (codec.encode, codec.decode, codec.encode_bytes, codec.decode_bytes) if n
            )
        names.update(t.constant for t in self.topics)
        return tuple(sorted(names, key=member_key))

    @property
    def topic_constants(self) -> tuple[str, ...]:
        return tuple(t.constant for t in self.topics)

    @property
    def graph_lines(self) -> tuple[str, ...]:
        """The Mermaid text, one string per line (each ending in a newline)."""
        return tuple(line + "\n" for line in self.graph.splitlines())

    def walk(self) -> Iterator[NodeIR]:
        return iter(self.nodes)


def fingerprint(ir: WorkflowIR) -> str:
    """The IR's version: a hash of what the workflow does, not of where its text sits."""
    shape = {
        "name": ir.name,
        "state": ir.state,
        "key": ir.key,
        "nodes": [
            [
                n.id,
                n.kind,
                n.name,
                n.parent,
                list(n.children),
                [[a.keyword, a.value] for a in n.args],
            ]
            for n in ir.nodes
        ],
        "functions": [[f.signature, f.body] for f in ir.functions],
        "codecs": [
            [c.type_name, [[f.attribute, f.key, f.encode, f.decode, f.default] for f in c.fields]]
            for c in ir.codecs
        ],
        "topics": [
            [t.constant, t.name, t.message, t.key_function.signature, t.key_function.body]
            for t in ir.topics
        ],
    }
    text = json.dumps(shape, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
