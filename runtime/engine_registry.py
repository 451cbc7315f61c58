"""The workflows an engine serves, and the topics they send to and listen on."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from attrs import frozen

from runtime.engine_api import EngineError, UnknownWorkflowError
from runtime.types import Command, CompiledWorkflow, Listen, TopicSpec

HANDOFF_TOPIC = "dagger.handoff"
"""Instance ids whose outbox a process left for a worker (calls it does not run itself)."""


def dead_letter_topic(topic: str) -> str:
    return f"{topic}.dead-letter"


@frozen
class Registry:
    workflows: Mapping[str, CompiledWorkflow[Any]]
    topics: Mapping[str, TopicSpec[Any]]  # every topic a workflow sends to or listens on
    listened: tuple[str, ...]  # topics with a listener: the engine consumes these
    by_key: Mapping[str, tuple[str, ...]]  # topic -> workflows with a by_key listener on it
    indexed: frozenset[str]  # topics with a listener that is not by_key: the index knows those

    @classmethod
    def of(cls, workflows: Iterable[CompiledWorkflow[Any]]) -> Registry:
        by_name: dict[str, CompiledWorkflow[Any]] = {}
        topics: dict[str, TopicSpec[Any]] = {}
        listened: dict[str, None] = {}
        by_key: dict[str, dict[str, None]] = {}
        indexed: set[str] = set()
        for wf in workflows:
            if not isinstance(wf, CompiledWorkflow):
                raise EngineError(
                    f"workflows must be CompiledWorkflow values from generated modules "
                    f"(got {type(wf).__name__})"
                )
            known = by_name.setdefault(wf.name, wf)
            if known is not wf and known.version != wf.version:
                raise EngineError(
                    f"two versions of workflow {wf.name} were given ({known.version} from "
                    f"{known.source}, {wf.version} from {wf.source}); give one"
                )
            for spec in wf.topics:
                topics.setdefault(spec.name, spec)
            for node in wf.nodes:
                if isinstance(node, Command | Listen):
                    topics.setdefault(node.topic.name, node.topic)
                if isinstance(node, Listen):
                    listened[node.topic.name] = None
                    if node.by_key:
                        by_key.setdefault(node.topic.name, {})[wf.name] = None
                    else:
                        indexed.add(node.topic.name)
        return cls(
            by_name,
            topics,
            tuple(listened),
            {t: tuple(names) for t, names in by_key.items()},
            frozenset(indexed),
        )

    def workflow(self, name: str) -> CompiledWorkflow[Any]:
        wf = self.workflows.get(name)
        if wf is None:
            known = ", ".join(sorted(self.workflows)) or "none"
            raise UnknownWorkflowError(
                f"workflow {name!r} is not served by this engine (it serves: {known}); "
                f"pass it in Engine(..., workflows=[...]) or --app"
            )
        return wf

    def all_topics(self) -> list[str]:
        """Everything `ensure_topics` should create for these workflows."""
        names = list(self.topics)
        names += [dead_letter_topic(t) for t in self.listened]
        return [*names, HANDOFF_TOPIC]
