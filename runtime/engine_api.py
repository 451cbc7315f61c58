"""The values the Engine hands back to users: run handles, statuses, pages, errors."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from attrs import frozen

from runtime.types import CompiledWorkflow, Instance, Node, Status

S = TypeVar("S")


class EngineError(RuntimeError):
    """Base of the errors the Engine raises for a wrong use or a failed operation."""


class UnknownRunError(EngineError, LookupError):
    """`cancel` was given an id no run has."""


class UnknownWorkflowError(EngineError, LookupError):
    """A workflow name the engine was not given (`Engine(..., workflows=[...])`)."""


class UnreadableRunError(EngineError):
    """A stored run this engine cannot read: recorded by another version of its workflow (the
    workflow was recompiled since) or not a record of this engine at all."""


def unreadable(run_id: str, cause: Exception) -> UnreadableRunError:
    """The error for run `run_id`, which this engine cannot read because of `cause` (an
    UnknownWorkflowError or a DecodeError)."""
    return UnreadableRunError(f"run {run_id!r} cannot be read: {cause}")


class ConflictError(EngineError):
    """Compare-and-set kept losing to other writers: something else rewrites this run in a loop."""


@frozen
class Run(Generic[S]):
    """What `engine.start` returns. `created` is False when a run with this key already existed."""

    id: str
    workflow: str
    created: bool = True


@frozen
class NodeStatus:
    name: str
    kind: str  # "command", "listen", "call", ... (the node class, lower case)
    status: Status
    started_at: float | None
    ended_at: float | None
    attempt: int
    detail: str | None
    parent: int


@frozen
class RunStatus(Generic[S]):
    """Everything `engine.status(id)` knows about one run: typed state and every node."""

    id: str
    workflow: str
    version: str
    status: Status
    state: S
    nodes: tuple[NodeStatus, ...]
    error: str | None
    created_at: float
    updated_at: float
    pending_effects: int  # effects recorded but not yet performed (0 when quiet)

    @classmethod
    def of(cls, wf: CompiledWorkflow[S], instance: Instance[S], pending: int) -> RunStatus[S]:
        nodes = tuple(
            _node_status(node, run)
            for node, run in zip(wf.nodes, instance.nodes, strict=True)  # record.decode checks
        )
        return cls(
            id=instance.id,
            workflow=instance.workflow,
            version=instance.version,
            status=instance.status,
            state=instance.state,
            nodes=nodes,
            error=instance.error,
            created_at=instance.created_at,
            updated_at=instance.updated_at,
            pending_effects=pending,
        )


def node_kind(node: Node[Any]) -> str:
    return type(node).__name__.rstrip("_").lower()


def _node_status(node: Node[Any], run: Any) -> NodeStatus:
    return NodeStatus(
        name=node.name,
        kind=node_kind(node),
        status=run.status,
        started_at=run.started_at,
        ended_at=run.ended_at,
        attempt=run.attempt,
        detail=run.detail,
        parent=node.parent,
    )


@frozen
class RunSummary:
    id: str
    workflow: str
    status: Status
    updated_at: float


@frozen
class RunPage:
    """One page of `engine.list`; pass `next` as `cursor` for the following page (None: no more)."""

    items: tuple[RunSummary, ...]
    next: str | None
