"""`daggerc worker --app PACKAGE [--broker URL] [--store URL]`: serve until SIGTERM or SIGINT.

At start it waits for a broker or store that does not answer yet (Kafka or Aerospike still
starting: --wait seconds, default no limit), trying again with pauses up to 30 s; one that answers
and refuses (a wrong password) is one line and exit 1. On a signal it stops taking work, lets
running calls and steps finish (up to --grace seconds; the rest are handed back for the next
worker, or left in outboxes when Kafka does not answer), commits and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from runtime.cli.common import (
    CliError,
    add_app_argument,
    add_backend_arguments,
    add_wait_argument,
    error,
    load_app,
    opened,
)

HELP = "run a worker: consume messages, fire timers and run calls until SIGTERM or SIGINT"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_app_argument(parser)
    add_backend_arguments(parser)
    parser.add_argument(
        "--grace",
        type=float,
        default=10.0,
        metavar="S",
        help="seconds running calls and steps get to finish on shutdown (default 10)",
    )
    add_wait_argument(parser)
    parser.add_argument(
        "--log-format", choices=("text", "json"), default="text", help="log lines as text or JSON"
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR")
    )


def run(args: argparse.Namespace) -> int:
    from runtime.engine import Engine  # noqa: PLC0415 (keeps `daggerc --help` light)
    from runtime.ops import logs  # noqa: PLC0415 (as above)
    from runtime.types import BackendError  # noqa: PLC0415 (as above)
    from runtime.urls import UrlError, redacted  # noqa: PLC0415 (as above)

    try:
        workflows = load_app(args.app)
    except CliError as exc:
        return error("worker", str(exc), exc.code)
    logs.configure(json_lines=args.log_format == "json", level=getattr(logging, args.log_level))
    log = logging.getLogger("dagger.worker")

    async def main() -> None:
        engine = await opened(
            lambda: Engine(args.broker, args.store, workflows, shutdown_grace=args.grace),
            args.wait,
            log,
        )
        if engine is None:
            log.info("worker stopped before its backends answered")
            return
        async with engine:
            names = ", ".join(wf.name for wf in workflows)
            broker, store = redacted(engine.url), redacted(engine.store_url)
            log.info("worker serving %s on %s (store %s)", names, broker, store)
            await engine.run()
        log.info("worker stopped")

    try:
        asyncio.run(main())
    except UrlError as exc:
        return error("worker", str(exc), 2)
    except (BackendError, OSError) as exc:
        return error("worker", str(exc), 1)
    return 0
