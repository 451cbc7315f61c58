"""`daggerc cancel ID [--reason TEXT]`: stop a run; a finished run is left as it is."""

from __future__ import annotations

import argparse
import sys

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
)

HELP = "cancel a run (it ends STOPPED); a finished run is left as it is"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("id", metavar="ID", help="run id, e.g. OrderWorkflow:A1")
    parser.add_argument("--reason", default="cancelled", help="recorded as the run's error")
    add_app_argument(parser)
    add_backend_arguments(parser)
    add_json_argument(parser)


def run(args: argparse.Namespace) -> int:
    return guarded("cancel", lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    from runtime.engine import Engine  # noqa: PLC0415 (keeps `daggerc --help` light)
    from runtime.engine_api import UnknownRunError  # noqa: PLC0415 (as above)

    workflows = load_app(args.app)

    async def body(engine: Engine) -> int:
        try:
            status = await engine.cancel(args.id, args.reason)
        except UnknownRunError as exc:
            raise CliError(str(exc), FAILED) from exc
        if args.json:
            print_json({"id": args.id, "status": status.value})
        else:
            sys.stdout.write(f"{args.id} {status.value}\n")
        return 0

    return run_with_engine("cancel", args, workflows, body)
