"""`daggerc serve`: a worker plus the HTTP API, metrics and web page, in one process.

    daggerc serve --app generated [--broker URL] [--store URL] [--host 127.0.0.1] [--port 8080]
                  [--token T] [--updates-topic TOPIC] [--log-format text|json]

It binds 127.0.0.1 unless told otherwise; bound anywhere else it needs a token (`--token` or
DAGGER_TOKEN) and refuses to start without one. SIGINT or SIGTERM stops it: the HTTP server
stops accepting, then the engine drains and closes.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from runtime.cli.common import add_wait_argument

HELP = "run a worker with the HTTP API, Prometheus metrics and the web page"
DEFAULT_BROKER = "sqlite:///dagger.db"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--app",
        required=True,
        metavar="PACKAGE",
        help="package of compiled workflows, e.g. generated",
    )
    parser.add_argument(
        "--broker",
        default=DEFAULT_BROKER,
        metavar="URL",
        help=f"memory://, sqlite:///path.db or kafka://host:port (default {DEFAULT_BROKER})",
    )
    parser.add_argument(
        "--store",
        default=None,
        metavar="URL",
        help="store URL when the broker does not hold state (aerospike://host:port/ns)",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1; others need a token)",
    )
    parser.add_argument(
        "--port", type=int, default=8080, help="port to bind (default 8080; 0 picks a free one)"
    )
    parser.add_argument(
        "--token", default=None, help="bearer token for /api and /metrics (default: $DAGGER_TOKEN)"
    )
    parser.add_argument(
        "--updates-topic",
        default=None,
        metavar="TOPIC",
        help="also publish each status change to this topic",
    )
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="log lines as text or JSON (default text)",
    )

    add_wait_argument(parser)


def run(args: argparse.Namespace) -> int:
    from runtime.ops.server import UnsafeBinding, check_binding, resolve_token  # noqa: PLC0415 -- keep `daggerc --help` light

    token = resolve_token(args.token)
    try:
        check_binding(args.host, token)
    except UnsafeBinding as exc:
        sys.stderr.write(f"daggerc serve: {exc}\n")
        return 2
    import asyncio  # noqa: PLC0415 -- as above

    from runtime.ops.service import serve  # noqa: PLC0415 -- imports aiohttp and the engine

    return asyncio.run(serve(_options(args, token)))


def _options(args: argparse.Namespace, token: str | None) -> Any:
    from runtime.ops.service import ServeOptions  # noqa: PLC0415 -- as above

    return ServeOptions(
        app=args.app,
        broker=args.broker,
        store=args.store,
        host=args.host,
        port=args.port,
        token=token,
        updates_topic=args.updates_topic,
        json_logs=args.log_format == "json",
        wait=args.wait,
    )
