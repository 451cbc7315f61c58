"""JSON views of workflows and instances for the HTTP API, and its opaque paging cursors."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from runtime.engine_api import NodeStatus, RunStatus, RunSummary
from runtime.ops.hooks import node_kind
from runtime.types import (
    JSON,
    CompiledWorkflow,
    Decide,
    Node,
    Parallel,
    Process,
    Sequence_,
    Status,
)


class BadCursor(ValueError):
    """A cursor that this server did not issue, or issued for another query."""


def _children(node: Node[Any]) -> tuple[int, ...]:
    if isinstance(node, Sequence_ | Process | Decide | Parallel):
        return node.children
    return ()


def node_json(node: Node[Any]) -> dict[str, JSON]:
    """A node's place in the graph: enough for the page to lay the workflow out."""
    out: dict[str, JSON] = {
        "id": node.id,
        "name": node.name,
        "kind": node_kind(node),
        "parent": node.parent,
        "children": list(_children(node)),
        "line": node.line,
    }
    if isinstance(node, Decide):
        out["labels"] = [str(label) for label in node.labels]
    if isinstance(node, Parallel):
        out["join"] = node.join
    return out


def workflow_json(workflow: CompiledWorkflow[Any]) -> dict[str, JSON]:
    return {
        "name": workflow.name,
        "version": workflow.version,
        "source": workflow.source,
        "graph": workflow.graph,
        "topics": [t.name for t in workflow.topics],
        "nodes": [node_json(n) for n in workflow.nodes],
    }


def _run_json(index: int, node: NodeStatus) -> dict[str, JSON]:
    return {
        "id": index,
        "name": node.name,
        "kind": node.kind,
        "status": Status(node.status).value,
        "started_at": node.started_at,
        "ended_at": node.ended_at,
        "attempt": node.attempt,
        "detail": node.detail,
    }


def instance_json(run: RunStatus[Any], workflow: CompiledWorkflow[Any]) -> dict[str, JSON]:
    """Status, the state through the workflow's own encoder, and every node's run."""
    return {
        "id": run.id,
        "workflow": run.workflow,
        "version": run.version,
        "status": Status(run.status).value,
        "state": workflow.encode_state(run.state),
        "error": run.error,
        "created_at": run.created_at,
        "updated_at": run.updated_at,
        "pending_effects": run.pending_effects,
        "nodes": [_run_json(i, n) for i, n in enumerate(run.nodes)],
    }


def summary_json(summary: RunSummary) -> dict[str, JSON]:
    return {
        "id": summary.id,
        "workflow": summary.workflow,
        "status": Status(summary.status).value,
        "updated_at": summary.updated_at,
    }


# --------------------------------------------------------------------------- cursors


def encode_cursor(inner: str, workflow: str | None, status: str | None) -> str:
    """Wrap the engine's cursor with the query it belongs to, URL-safe and opaque."""
    raw = orjson.dumps([1, workflow, status, inner])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, workflow: str | None, status: str | None) -> str:
    """The engine's cursor inside `cursor`; BadCursor when it is not one of ours or not for this query."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        version, c_workflow, c_status, inner = orjson.loads(raw)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise BadCursor(f"cursor {cursor!r} is not one this server issued") from exc
    if version != 1 or not isinstance(inner, str):
        raise BadCursor(f"cursor {cursor!r} is not one this server issued")
    if (c_workflow, c_status) != (workflow, status):
        raise BadCursor(
            f"cursor was issued for workflow={c_workflow} status={c_status}, "
            f"not workflow={workflow} status={status}"
        )
    return inner
