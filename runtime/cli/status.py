"""`daggerc status ID`: a run's status, state and every node (a table, or --json)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from runtime.cli.common import (
    FAILED,
    CliError,
    add_app_argument,
    add_backend_arguments,
    add_json_argument,
    guarded,
    load_app,
    print_json,
    run_with_engine,
    table,
    when,
)

HELP = "show a run: status, state and every node"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("id", metavar="ID", help="run id, e.g. OrderWorkflow:A1")
    add_app_argument(parser)
    add_backend_arguments(parser)
    add_json_argument(parser)


def run(args: argparse.Namespace) -> int:
    return guarded("status", lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    from runtime.engine import Engine  # noqa: PLC0415 (keeps `daggerc --help` light)

    workflows = load_app(args.app)

    async def body(engine: Engine) -> int:
        status = await engine.status(args.id)
        if status is None:
            raise CliError(f"no run has id {args.id!r}", FAILED)
        wf = engine.registry.workflow(status.workflow)
        if args.json:
            print_json(as_json(status, wf.encode_state(status.state)))
        else:
            sys.stdout.write(as_text(status) + "\n")
        return 0

    return run_with_engine("status", args, workflows, body)


def as_json(status: Any, state: object) -> dict[str, object]:
    return {
        "id": status.id,
        "workflow": status.workflow,
        "version": status.version,
        "status": status.status.value,
        "error": status.error,
        "created_at": status.created_at,
        "updated_at": status.updated_at,
        "pending_effects": status.pending_effects,
        "state": state,
        "nodes": [
            {
                "name": n.name,
                "kind": n.kind,
                "status": n.status.value,
                "started_at": n.started_at,
                "ended_at": n.ended_at,
                "attempt": n.attempt,
                "detail": n.detail,
            }
            for n in status.nodes
        ],
    }


def as_text(status: Any) -> str:
    head = [
        f"run      {status.id}",
        f"workflow {status.workflow} (version {status.version})",
        f"status   {status.status.value}" + (f": {status.error}" if status.error else ""),
        f"updated  {when(status.updated_at)}",
        f"state    {status.state!r}",
        "",
    ]
    rows = [
        [
            n.name,
            n.kind,
            n.status.value,
            str(n.attempt or ""),
            when(n.started_at),
            when(n.ended_at),
            n.detail or "",
        ]
        for n in status.nodes
    ]
    headers = ["NODE", "KIND", "STATUS", "TRY", "STARTED", "ENDED", "DETAIL"]
    return "\n".join(head) + table(headers, rows)
