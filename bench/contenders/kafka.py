"""dagger over the Kafka broker with a SQLite store: the engine and the simulated services run in
this one process, talking through the broker.

    python -m bench.contenders.kafka --bootstrap 127.0.0.1:9092 --workdir /tmp/x [--n 20000]
"""

from __future__ import annotations

import asyncio
import uuid

from bench.contenders.common import Options, calibrate_and_measure, emit_result, parse_options
from bench.contenders.dagger_side import Completions, DaggerBench, load_compiled, running
from bench.contenders.embedded import fresh_database
from bench.contenders.topics import reset_topics
from runtime import Engine


async def main(options: Options) -> None:
    await measure(options, f"sqlite:///{fresh_database(options.workdir, 'kafka-store.db')}")


async def measure(options: Options, store_url: str) -> None:
    """The burst on an engine over the broker and `store_url`; its figures on stdout."""
    compiled = load_compiled()
    await reset_topics(options.bootstrap, compiled.topics)
    seen = Completions(compiled.orders.name)
    group = f"bench-{uuid.uuid4().hex[:8]}"
    engine = Engine(
        f"kafka://{options.bootstrap}",
        store_url=store_url,
        workflows=[compiled.orders],
        observer=seen,
        group=group,
    )
    async with engine:
        bench = DaggerBench(engine, compiled, seen)
        bench.subscribe_services(group_prefix=group)
        async with running(engine):
            figures, _ = await calibrate_and_measure(
                bench.burst, options, warmup_n=500, floor=2000, ceiling=300_000
            )
    emit_result(figures.as_json())


if __name__ == "__main__":
    asyncio.run(main(parse_options(__doc__ or "")))
