"""`daggerc start PACKAGE:Workflow --state JSON`: start a run (idempotent by the workflow's key).

Prints the run id (and whether it already existed). Calls the run owes are left to the workers.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from runtime.cli.common import (
    USAGE,
    CliError,
    add_backend_arguments,
    add_json_argument,
    find_workflow,
    guarded,
    parse_json,
    print_json,
    run_with_engine,
)

HELP = "start a run of PACKAGE:Workflow with the given state (idempotent by its key)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("workflow", metavar="PACKAGE:Workflow", help="e.g. generated:OrderWorkflow")
    parser.add_argument("--state", required=True, metavar="JSON", help="the initial state as JSON")
    add_backend_arguments(parser)
    add_json_argument(parser)


def run(args: argparse.Namespace) -> int:
    return guarded("start", lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    from runtime.engine import Engine  # noqa: PLC0415 (keeps `daggerc --help` light)

    wf, workflows = find_workflow(args.workflow)
    state = _state(wf, args.state)

    async def body(engine: Engine) -> int:
        run = await engine.start(wf, state)
        if args.json:
            print_json({"id": run.id, "workflow": run.workflow, "created": run.created})
        else:
            sys.stdout.write(f"{'started' if run.created else 'exists '} {run.id}\n")
        return 0

    return run_with_engine("start", args, workflows, body)


def _state(wf: Any, text: str) -> Any:
    data = parse_json(text, "--state")
    try:
        return wf.decode_state(data)
    except (ValueError, TypeError, KeyError) as exc:
        raise CliError(f"--state is not a valid {wf.state_type.__name__}: {exc}", USAGE) from exc
