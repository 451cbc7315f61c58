"""dagger on `sqlite:///`: one durable file holds the log, the state, the correlation index and
the timers; the engine and the simulated services run in this one process.

    python -m bench.contenders.embedded --workdir /tmp/x [--n 20000]
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.contenders.common import Options, calibrate_and_measure, emit_result, parse_options
from bench.contenders.dagger_side import Completions, DaggerBench, load_compiled, running
from runtime import Engine


def fresh_database(workdir: Path, name: str) -> Path:
    """A database path with no leftovers of an earlier run (its -wal and -shm files too)."""
    db = workdir / name
    for leftover in workdir.glob(name + "*"):
        leftover.unlink()
    return db


async def main(options: Options) -> None:
    compiled = load_compiled()
    db = fresh_database(options.workdir, "embedded.db")
    seen = Completions(compiled.orders.name)
    async with Engine(f"sqlite:///{db}", workflows=[compiled.orders], observer=seen) as engine:
        bench = DaggerBench(engine, compiled, seen)
        bench.subscribe_services()
        async with running(engine):
            figures, _ = await calibrate_and_measure(
                bench.burst, options, warmup_n=500, floor=2000, ceiling=300_000
            )
    emit_result(figures.as_json())


if __name__ == "__main__":
    asyncio.run(main(parse_options(__doc__ or "")))
