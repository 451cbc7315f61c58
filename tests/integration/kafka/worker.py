"""One worker process for the Kafka tests: what `daggerc worker --app generated` runs, with the
test's own consumer group and a short `recover_after`, so a survivor takes over quickly.

    python -m tests.integration.kafka.worker --bootstrap 127.0.0.1:9092 \\
        --store sqlite:////tmp/orders.db --group dagger-test.t1.engine

It serves the order workflow until SIGTERM or SIGINT, and prints `transitions N` on stdout about
twice a second (N: events it applied so far), so a test can tell that it did work before it died.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from generated.orders import OrderWorkflow
from runtime import Engine
from runtime.ops.hooks import BaseObserver

REPORT_EVERY_S = 0.5


class Counter(BaseObserver):
    def __init__(self) -> None:
        self.transitions = 0

    def on_transition(self, workflow: str, node_kind: str, seconds: float) -> None:
        self.transitions += 1


async def report(counter: Counter) -> None:
    while True:
        sys.stdout.write(f"transitions {counter.transitions}\n")
        sys.stdout.flush()
        await asyncio.sleep(REPORT_EVERY_S)


async def serve(args: argparse.Namespace) -> None:
    counter = Counter()
    engine = Engine(
        f"kafka://{args.bootstrap}",
        args.store,
        workflows=[OrderWorkflow],
        group=args.group,
        recover_after=args.recover_after,
        observer=counter,
    )
    async with engine:
        reporter = asyncio.create_task(report(counter))
        try:
            await engine.run()
        finally:
            reporter.cancel()
    sys.stdout.write(f"transitions {counter.transitions}\nstopped\n")
    sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", required=True, help="Kafka bootstrap host:port")
    parser.add_argument("--store", required=True, help="store URL, e.g. sqlite:////tmp/x.db")
    parser.add_argument("--group", required=True, help="the engine's consumer group")
    parser.add_argument("--recover-after", type=float, default=2.0, help="seconds (default 2)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
