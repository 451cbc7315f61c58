"""`daggerc list [--workflow W] [--status S] [--limit N] [--cursor C]`: runs by id, a page at a time."""

from __future__ import annotations

import argparse
import sys

from runtime.cli.common import (
    add_backend_arguments,
    add_json_argument,
    guarded,
    print_json,
    run_with_engine,
    table,
    when,
)
from runtime.types import Status

HELP = "list runs, filtered by workflow and status, a page at a time"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workflow", metavar="W", help="only runs of this workflow")
    parser.add_argument(
        "--status", choices=[s.value for s in Status], help="only runs with this status"
    )
    parser.add_argument(
        "--limit", type=_positive, default=50, metavar="N", help="runs per page (default 50)"
    )
    parser.add_argument("--cursor", metavar="C", help="the 'next' of the previous page")
    add_backend_arguments(parser)
    add_json_argument(parser)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {value})")
    return value


def run(args: argparse.Namespace) -> int:
    return guarded("list", lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    from runtime.engine import Engine  # noqa: PLC0415 (keeps `daggerc --help` light)

    async def body(engine: Engine) -> int:
        page = await engine.list(
            workflow=args.workflow, status=args.status, limit=args.limit, cursor=args.cursor
        )
        if args.json:
            items = [
                {
                    "id": r.id,
                    "workflow": r.workflow,
                    "status": r.status.value,
                    "updated_at": r.updated_at,
                }
                for r in page.items
            ]
            print_json({"items": items, "next": page.next})
            return 0
        rows = [[r.id, r.workflow, r.status.value, when(r.updated_at)] for r in page.items]
        sys.stdout.write(table(["ID", "WORKFLOW", "STATUS", "UPDATED"], rows) + "\n")
        if page.next is not None:
            sys.stdout.write(f"more: daggerc list --cursor {page.next}\n")
        return 0

    return run_with_engine("list", args, [], body)
