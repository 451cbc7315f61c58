"""Stage 3, lower: a loaded DSL workflow to the IR the templates print.

Nodes get ids in depth-first pre-order (a node's id is its index; parents come first), names that
are unique and readable ("PAYMENT/command PAYMENT_COMMAND"), and one lifted function per callable
argument, named after the process and node (`_payment_2_build`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

import attrs
from attrs import frozen

from codegen import graph
from codegen.codecs import CodecBuilder, literal, snake
from codegen.diagnostics import Diagnostic
from codegen.imports import ImportTracker
from codegen.ir import NO_PARENT, Arg, Function, Names, TopicIR, WorkflowIR, fingerprint
from codegen.lift import Lifter, LiftError, Slot
from codegen.loader import LoadedWorkflow
from codegen.lower_values import (
    Draft,
    branch_text,
    choose_type,
    key_type,
    label_value,
    relative_file,
    retry_policy,
    same_expression,
    seconds,
    step_label,
    timedelta_source,
)
from dsl.errors import Location
from dsl.model import (
    CallStep,
    CommandStep,
    DecideStep,
    FailStep,
    Flow,
    ListenStep,
    Node,
    ParallelStep,
    PollStep,
    ProcessDef,
    SleepStep,
    Step,
    Topic,
    UntilStep,
)

TOPIC_CODE = "DGR315"  # one topic name, two message types
_RESERVED = frozenset({"NODES", "start", "apply", "_GRAPH", "o", "d", "v", "b"})


@frozen
class LowerResult:
    ir: WorkflowIR | None
    diagnostics: tuple[Diagnostic, ...]


def lower(loaded: LoadedWorkflow, module: str, first_party: Iterable[str] = ()) -> LowerResult:
    """The IR of one workflow, or every diagnostic found while lowering it."""
    return _Lowering(loaded, module, first_party).run()


class _Lowering:
    def __init__(self, loaded: LoadedWorkflow, module: str, first_party: Iterable[str]) -> None:
        self.loaded = loaded
        self.wf = loaded.workflow
        self.module = module
        self.tracker = ImportTracker(first_party, reserved={*_RESERVED, loaded.variable})
        self.lifter = Lifter(self.tracker, self.display)
        self.diagnostics: list[Diagnostic] = []
        self.functions: list[Function] = []
        self.key = ""  # the lifted key function's name
        self.drafts: list[Draft] = []
        self.topics: dict[str, tuple[Topic[object, str], TopicIR]] = {}
        self.taken: set[str] = set()
        self.node_names: set[str] = set()
        self.names = self._names()
        self.codecs = CodecBuilder(self.tracker, self.names.codec, self.unique)
        self.state = self.tracker.annotation(self.wf.state)

    def _names(self) -> Names:
        types_ = "runtime.types"
        name = self.tracker.name
        return Names(
            compiled_workflow=name(types_, "CompiledWorkflow"),
            node=name(types_, "Node"),
            topic_spec="",  # imported with the first topic
            json=name(types_, "JSON"),
            transition=name(types_, "Transition"),
            instance=name(types_, "Instance"),
            event=name(types_, "Event"),
            machine=name("runtime", "machine"),
            codec=name("runtime", "codec"),
        )

    # ------------------------------------------------------------------ helpers

    def unique(self, base: str) -> str:
        """A module-level name the module defines, distinct from every other name in it."""
        chosen, counter = base, 2
        while chosen in self.taken or not self.tracker.is_free(chosen):
            chosen, counter = f"{base}_{counter}", counter + 1
        self.taken.add(chosen)
        self.tracker.reserve(chosen)
        return chosen

    def display(self, location: Location) -> str:
        return f"{relative_file(location.file)}:{location.line}:{location.column + 1}"

    def line(self, location: Location) -> str:
        return f"{relative_file(location.file)}:{location.line}"

    def lift(self, fn: object, name: str, slot: Slot, call: Location) -> str:
        """Lift `fn` into a module function called `name` (made unique); returns its name."""
        function = self.lift_function(fn, name, slot, call)
        if function is None:
            return name
        self.functions.append(function)
        return function.name

    def lift_function(self, fn: object, name: str, slot: Slot, call: Location) -> Function | None:
        try:
            return self.lifter.lift(fn, self.unique(name), slot, call)
        except LiftError as exc:
            self.diagnostics.append(exc.diagnostic)
            return None

    def constant(self, name: str, slot: Slot, expression: str, call: Location) -> str:
        name = self.unique(name)
        self.functions.append(self.lifter.constant(name, slot, expression, call))
        return name

    def node_fn(self, draft: Draft, scope: str, fn: object, slot: Slot, call: Location) -> str:
        return self.lift(fn, f"_{scope}_{draft.id}_{slot.keyword}", slot, call)

    # ------------------------------------------------------------------ the tree

    def run(self) -> LowerResult:
        key = self.key = self.lift(
            self.wf.key,
            f"_{snake(self.wf.name)}_key",
            Slot("workflow(key=...)", "key", (("state", self.state),), "str"),
            self.wf.location,
        )
        self.codecs.require(self.wf.state)
        root = self.add("Sequence_", self.wf.name, NO_PARENT, self.wf.location).id
        for item in self.wf.items:
            self.item(item, root, snake(self.wf.name))
        diagnostics = [*self.diagnostics, *self.codecs.diagnostics]
        if diagnostics:
            return LowerResult(None, tuple(diagnostics))
        nodes = tuple(d.freeze() for d in self.drafts)
        ir = WorkflowIR(
            variable=self.loaded.variable,
            name=self.wf.name,
            source=f"{relative_file(self.loaded.file)}:{self.loaded.variable}",
            module=self.module,
            state=self.state,
            key=key,
            state_codec=self.codecs.codecs[self.wf.state],
            codecs=tuple(self.codecs.codecs.values()),
            topics=tuple(ir for _, ir in self.topics.values()),
            functions=tuple(self.functions),
            nodes=nodes,
            names=self.names,
            graph=graph.mermaid(nodes),
        )
        return LowerResult(
            attrs.evolve(ir, version=fingerprint(ir), imports=self.tracker.header()), ()
        )

    def add(self, kind: str, label: str, parent: int, where: Location, segment: str = "") -> Draft:
        """A new node under `parent` (pre-order id); its name extends the parent's with `segment`."""
        segment = segment or label
        base = segment if parent in (NO_PARENT, 0) else f"{self.drafts[parent].name}/{segment}"
        name, counter = base, 2
        while name in self.node_names:
            name, counter = f"{base} #{counter}", counter + 1
        self.node_names.add(name)
        draft = Draft(
            id=len(self.drafts),
            kind=kind,
            cls=self.tracker.name("runtime.types", kind),
            name=name,
            parent=parent,
            line=self.line(where),
            label=label,
        )
        self.drafts.append(draft)
        if parent != NO_PARENT:
            self.drafts[parent].children.append(draft.id)
        return draft

    def item(self, item: ProcessDef[object] | Step[object], parent: int, scope: str) -> None:
        if isinstance(item, ProcessDef):
            draft = self.add("Process", item.name, parent, item.location)
            if item.timeout is not None:
                draft.args.append(Arg("timeout", seconds(item.timeout)))
            for step in item.steps:
                self.step(step, draft.id, snake(item.name))
        else:
            self.step(item, parent, scope)

    def branch(self, node: Node[object], parent: int, label: str, scope: str) -> None:
        """A decision or parallel branch: a step directly, or a flow as a Sequence_ node."""
        if isinstance(node, Flow):
            seq = self.add("Sequence_", label, parent, node.location)
            for item in node.items:
                self.item(item, seq.id, scope)
        elif isinstance(node, Step):
            self.step(node, parent, scope, prefix=f"{label}/")

    def step(self, step: Step[object], parent: int, scope: str, prefix: str = "") -> None:
        label = step_label(step)
        kind = _KINDS[type(step)]
        draft = self.add(kind, label, parent, step.location, prefix + label)
        getattr(self, f"_{kind.lower().rstrip('_')}")(step, draft, scope)

    # ------------------------------------------------------------------ one method per task kind

    def _state_slot(
        self, role: str, keyword: str, returns: str, position: int | None = None
    ) -> Slot:
        return Slot(role, keyword, (("state", self.state),), returns, position)

    def _command(self, step: CommandStep[object, object], draft: Draft, scope: str) -> None:
        topic = self.topic(step.topic)
        slot = self._state_slot("command(build=...)", "build", topic.message, 1)
        build = self.node_fn(draft, scope, step.build, slot, step.location)
        draft.args += [Arg("topic", topic.constant), Arg("build", build)]

    def _listen(self, step: ListenStep[object, object], draft: Draft, scope: str) -> None:
        topic = self.topic(step.topic)
        key = key_type(step.topic, self.tracker)
        match = self.node_fn(
            draft,
            scope,
            step.match,
            self._state_slot("listen(match=...)", "match", key),
            step.location,
        )
        draft.args += [Arg("topic", topic.constant), Arg("match", match)]
        if self._by_key(match):
            draft.args.append(Arg("by_key", "True"))
        if step.on is not None:
            params = (("state", self.state), ("message", topic.message))
            slot = Slot("listen(on=...)", "on", params, self.state)
            draft.args.append(Arg("on", self.node_fn(draft, scope, step.on, slot, step.location)))
        if step.timeout is not None:
            draft.args.append(Arg("timeout", seconds(step.timeout)))
        if step.on_timeout is not None:
            slot = self._state_slot("listen(on_timeout=...)", "on_timeout", self.state)
            fn = self.node_fn(draft, scope, step.on_timeout, slot, step.location)
            draft.args.append(Arg("on_timeout", fn))

    def _by_key(self, match: str) -> bool:
        """Whether the lifted `match` is the workflow's key expression (see Listen.by_key)."""
        lifted = {f.name: f for f in self.functions if f.name in (match, self.key)}
        return len(lifted) == 2 and same_expression(lifted[match], lifted[self.key])

    def _call(self, step: CallStep[object], draft: Draft, scope: str) -> None:
        params = (("state", self.state),)
        slot = Slot("call(fn=...)", "fn", params, self.state, 0, may_await=True)
        draft.args.append(Arg("fn", self.node_fn(draft, scope, step.fn, slot, step.location)))
        policy = retry_policy(step.retry, self.tracker)
        if policy is not None:
            draft.args.append(Arg("retry", policy))
        if step.timeout is not None:
            draft.args.append(Arg("timeout", seconds(step.timeout)))
        if step.on_error is not None:
            errors = (("state", self.state), ("error", "str"))
            slot = Slot("call(on_error=...)", "on_error", errors, self.state)
            draft.args.append(
                Arg("on_error", self.node_fn(draft, scope, step.on_error, slot, step.location))
            )

    def _decide(self, step: DecideStep[object], draft: Draft, scope: str) -> None:
        labels = [label for label, _ in step.branches]
        returns = "bool" if step.boolean else choose_type(labels, self.tracker)
        slot = self._state_slot("decide(choose=...)", "choose", returns, 0)
        draft.args.append(
            Arg("choose", self.node_fn(draft, scope, step.choose, slot, step.location))
        )
        try:
            values = [label_value(label, self.tracker) for label in labels]
        except TypeError as exc:
            self.diagnostics.append(Diagnostic("DGR314", str(exc), step.location))
            values = []
        draft.args.append(Arg("labels", f"({', '.join(values)}{',' if len(values) == 1 else ''})"))
        for label, branch in step.branches:
            text = branch_text(label, step.boolean)
            draft.branch_labels.append(text)
            self.branch(branch, draft.id, text, scope)

    def _parallel(self, step: ParallelStep[object], draft: Draft, scope: str) -> None:
        if step.join != "all":
            draft.args.append(Arg("join", literal(step.join)))
        for index, branch in enumerate(step.branches, start=1):
            self.branch(branch, draft.id, f"branch {index}", scope)

    def _sleep(self, step: SleepStep[object], draft: Draft, scope: str) -> None:
        returns = self.tracker.name("datetime", "timedelta")
        slot = self._state_slot("sleep(delay=...)", "delay", returns, 0)
        if isinstance(step.delay, timedelta):
            expression = timedelta_source(step.delay, returns)
            fn = self.constant(f"_{scope}_{draft.id}_delay", slot, expression, step.location)
        else:
            fn = self.node_fn(draft, scope, step.delay, slot, step.location)
        draft.args.append(Arg("delay", fn))

    def _until(self, step: UntilStep[object], draft: Draft, scope: str) -> None:
        slot = self._state_slot("until(at=...)", "at", self.tracker.name("datetime", "datetime"), 0)
        draft.args.append(Arg("at", self.node_fn(draft, scope, step.at, slot, step.location)))

    def _poll(self, step: PollStep[object], draft: Draft, scope: str) -> None:
        check = self.node_fn(
            draft,
            scope,
            step.check,
            self._state_slot("poll(check=...)", "check", "bool", 0),
            step.location,
        )
        moment = self.tracker.name("datetime", "datetime")
        slot = self._state_slot("poll(deadline=...)", "deadline", moment)
        deadline = self.node_fn(draft, scope, step.deadline, slot, step.location)
        draft.args += [
            Arg("check", check),
            Arg("every", seconds(step.every)),
            Arg("deadline", deadline),
        ]

    def _fail(self, step: FailStep[object], draft: Draft, scope: str) -> None:
        slot = self._state_slot("fail(reason=...)", "reason", "str", 0)
        if isinstance(step.reason, str):
            fn = self.constant(
                f"_{scope}_{draft.id}_reason", slot, literal(step.reason), step.location
            )
        else:
            fn = self.node_fn(draft, scope, step.reason, slot, step.location)
        draft.args.append(Arg("reason", fn))

    # ------------------------------------------------------------------ topics

    def topic(self, topic: Topic[object, str]) -> TopicIR:
        known = self.topics.get(topic.name)
        if known is not None:
            if known[0].message is not topic.message:
                self.diagnostics.append(
                    Diagnostic(
                        TOPIC_CODE,
                        f"topic {topic.name!r} is declared with {known[0].message.__qualname__} "
                        f"and with {topic.message.__qualname__}",
                        topic.location,
                        hint="one Kafka topic carries one message type",
                    )
                )
            return known[1]
        codec = self.codecs.require(topic.message, message=True)
        message = codec.type_name
        if not self.names.topic_spec:
            spec = self.tracker.name("runtime.types", "TopicSpec")
            self.names = attrs.evolve(self.names, topic_spec=spec)
        constant = self.unique(snake(topic.name).upper())
        slot = Slot(
            f"topic({topic.name!r}, key=...)",
            "key",
            (("message", message),),
            key_type(topic, self.tracker),
        )
        key = self.lift_function(topic.key, f"_{snake(topic.name)}_key", slot, topic.location)
        if key is None:  # reported; a placeholder keeps lowering going to find more problems
            key = self.lifter.constant(f"_{snake(topic.name)}_key", slot, '""', topic.location)
        assert codec.encode_bytes is not None and codec.decode_bytes is not None
        ir = TopicIR(constant, topic.name, message, key, codec.encode_bytes, codec.decode_bytes)
        self.topics[topic.name] = (topic, ir)
        return ir


_KINDS: dict[type, str] = {
    CommandStep: "Command",
    ListenStep: "Listen",
    CallStep: "Call",
    DecideStep: "Decide",
    ParallelStep: "Parallel",
    SleepStep: "Sleep",
    UntilStep: "Until",
    PollStep: "Poll",
    FailStep: "Fail",
}
