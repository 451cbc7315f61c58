"""`daggerc send TOPIC --value JSON [--key K]`: publish a message as an outside producer would.

The value must decode with the topic's generated decoder (so nothing malformed goes out); the key
defaults to the topic's key of the message, and a given key must equal it.
"""

from __future__ import annotations

import argparse
import sys

import orjson

from runtime.cli.common import (
    USAGE,
    CliError,
    add_app_argument,
    add_backend_arguments,
    add_json_argument,
    find_topic,
    guarded,
    load_app,
    parse_json,
    print_json,
    run_with_engine,
)

HELP = "publish a message on a topic, checked by the topic's decoder"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("topic", metavar="TOPIC", help="topic name, e.g. PAYMENT_LISTENER")
    parser.add_argument("--value", required=True, metavar="JSON", help="the message as JSON")
    parser.add_argument(
        "--key", metavar="K", help="the message key (default: the topic's key of the message)"
    )
    parser.add_argument("--id", metavar="ID", help="message id (default: a new one)")
    add_app_argument(parser)
    add_backend_arguments(parser)
    add_json_argument(parser)


def run(args: argparse.Namespace) -> int:
    return guarded("send", lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    from runtime.engine import Engine  # noqa: PLC0415 (keeps `daggerc --help` light)

    workflows = load_app(args.app)
    spec = find_topic(workflows, args.topic)
    raw = orjson.dumps(parse_json(args.value, "--value"))
    try:
        message = spec.decode(raw)
    except Exception as exc:
        raise CliError(f"--value is not a valid {args.topic} message: {exc}", USAGE) from exc
    key = spec.key(message)
    if args.key is not None and args.key != key:
        raise CliError(f"--key {args.key!r} differs from the message's key {key!r}", USAGE)

    async def body(engine: Engine) -> int:
        mid = await engine.send(spec, message, message_id=args.id)
        if args.json:
            print_json({"topic": args.topic, "key": key, "id": mid})
        else:
            sys.stdout.write(f"sent {args.topic} key={key} id={mid}\n")
        return 0

    return run_with_engine("send", args, workflows, body)
