"""Correlation keys (DGR204): a listener's `match` must give the key type its topic is keyed by.

Both sides are resolved statically (attrs field annotations for `lambda m: m.order_id`, return
annotations for named functions); NewTypes are distinct, so `BoxId` does not match `OrderId`.
When either side cannot be resolved nothing is said here: mypy checks the generated code.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from codegen import source
from codegen.checks import typeinfo, walk
from codegen.checks.typeinfo import type_name
from codegen.diagnostics import Diagnostic
from codegen.loader import LoadedWorkflow
from dsl.model import ListenStep


def check(workflows: Sequence[LoadedWorkflow]) -> Iterator[Diagnostic]:
    for loaded in workflows:
        state = loaded.workflow.state
        for step in walk.steps(loaded.workflow.items):
            if isinstance(step, ListenStep):
                yield from _listen(step, state)


def _listen(step: ListenStep[object, object], state: object) -> Iterator[Diagnostic]:
    keyed = typeinfo.returns(step.topic.key, [step.topic.message])
    matched = typeinfo.returns(step.match, [state])
    if keyed is None or matched is None:
        return
    if typeinfo.is_assignable(matched.tp, keyed.tp) is not False:
        return
    yield Diagnostic(
        "DGR204",
        f"{walk.describe(step)} matches on {type_name(matched.tp)} "
        f"but the topic is keyed by {type_name(keyed.tp)}",
        source.argument_location(step.location, "match"),
        hint=f"'match' must return {type_name(keyed.tp)}, the key type of "
        f"{walk.topic_name(step.topic)}; each NewType is a type of its own",
    )
