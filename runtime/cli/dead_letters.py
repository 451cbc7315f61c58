"""`daggerc dead-letters TOPIC [--replay]`: what `<TOPIC>.dead-letter` holds, and sending it back.

A message the engine could not take lands in the dead-letter topic of its topic with the reason:
it did not decode, its key function failed, or the run it was for cannot be read by that engine
(a workflow it does not serve, or a run recorded by another build). This lists them, oldest first,
with the reason, the message id and where each came from. `--replay` sends them back to TOPIC with
their headers (so with their ids: a run that already took one sees a repeat) and marks them done
for this command, so the next listing shows only newer ones. Listing alone marks nothing.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from runtime.cli.common import (
    USAGE,
    CliError,
    add_app_argument,
    add_backend_arguments,
    add_json_argument,
    find_topic,
    guarded,
    load_app,
    print_json,
    run_with_engine,
    table,
)
from runtime.engine_registry import dead_letter_topic
from runtime.types import MESSAGE_ID_HEADER, Incoming, Outgoing, TopicSpec

HELP = "list a topic's dead letters with their reasons, or send them back (--replay)"
_REASON_WIDTH = 100


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("topic", metavar="TOPIC", help="the topic, e.g. PAYMENT_LISTENER")
    parser.add_argument(
        "--replay", action="store_true", help="send them back to TOPIC, with their message ids"
    )
    parser.add_argument(
        "--limit", type=int, default=1000, metavar="N", help="at most N of them (default 1000)"
    )
    add_app_argument(parser)
    add_backend_arguments(parser)
    add_json_argument(parser)


def run(args: argparse.Namespace) -> int:
    return guarded("dead-letters", lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    from runtime.engine import Engine  # noqa: PLC0415 (keeps `daggerc --help` light)

    if args.limit < 1:
        raise CliError(f"--limit must be at least 1 (got {args.limit})", USAGE)
    workflows = load_app(args.app)
    spec = find_topic(workflows, args.topic)
    wait = 1.0 if args.broker.startswith("kafka://") else 0.1

    async def body(engine: Engine) -> int:
        consumer = engine.broker.consumer(
            f"dagger.dead-letters.{spec.name}", [dead_letter_topic(spec.name)]
        )
        await consumer.start()
        try:
            letters = await _read(consumer.fetch, args.limit, wait)
            if args.replay and letters:
                await engine.broker.send([_back(spec.name, r) for r in letters])
                await consumer.commit(letters)
        finally:
            await consumer.close()
        _report(args, spec, letters)
        return 0

    return run_with_engine("dead-letters", args, workflows, body)


async def _read(
    fetch: Callable[[int, float], Awaitable[Sequence[Incoming]]], limit: int, wait: float
) -> list[Incoming]:
    """Up to `limit` records, until a fetch comes back empty."""
    letters: list[Incoming] = []
    while len(letters) < limit:
        batch = await fetch(min(500, limit - len(letters)), wait)
        if not batch:
            break
        letters.extend(batch)
    return letters


def _back(topic: str, letter: Incoming) -> Outgoing:
    """The message as it first arrived: its key, bytes and headers, without the dead-letter's."""
    from runtime.engine_loop import DEAD_LETTER_HEADERS  # noqa: PLC0415 (light --help)

    headers = tuple((k, v) for k, v in letter.headers if k not in DEAD_LETTER_HEADERS)
    return Outgoing(topic, letter.key, letter.value, headers)


def _report(args: argparse.Namespace, spec: TopicSpec[Any], letters: list[Incoming]) -> None:
    rows = [_describe(r) for r in letters]
    undecodable = sum(1 for r in letters if not _decodes(spec, r.value))
    if args.json:
        print_json({"topic": spec.name, "replayed": args.replay, "letters": rows})
        return
    if args.replay:
        sys.stdout.write(f"replayed {len(letters)} message(s) to {spec.name}\n")
        if undecodable:
            sys.stdout.write(
                f"{undecodable} of them do not decode as {spec.name} messages with this build:"
                " the engine will dead-letter them again\n"
            )
        return
    if not rows:
        sys.stdout.write(f"{dead_letter_topic(spec.name)} holds nothing new\n")
        return
    headers = ("AT", "KEY", "ID", "REASON")
    cells = [
        (f"{r['partition']}/{r['offset']}", r["key"], r["id"], _short(r["reason"])) for r in rows
    ]
    sys.stdout.write(table(headers, cells) + "\n")


def _describe(r: Incoming) -> dict[str, Any]:
    from runtime.engine_loop import (  # noqa: PLC0415 (light --help)
        ERROR_HEADER,
        SOURCE_OFFSET_HEADER,
        SOURCE_PARTITION_HEADER,
        SOURCE_TOPIC_HEADER,
    )

    def text(name: str) -> str:
        value = r.header(name)
        return "" if value is None else value.decode("utf-8", "replace")

    return {
        "partition": r.partition,
        "offset": r.offset,
        "key": r.key,
        "id": text(MESSAGE_ID_HEADER),
        "reason": text(ERROR_HEADER),
        "source": {
            "topic": text(SOURCE_TOPIC_HEADER),
            "partition": text(SOURCE_PARTITION_HEADER),
            "offset": text(SOURCE_OFFSET_HEADER),
        },
        "value": r.value.decode("utf-8", "replace"),
    }


def _decodes(spec: TopicSpec[Any], value: bytes) -> bool:
    try:
        spec.decode(value)
    except Exception:
        return False
    return True


def _short(text: str) -> str:
    return text if len(text) <= _REASON_WIDTH else text[: _REASON_WIDTH - 1] + "…"
