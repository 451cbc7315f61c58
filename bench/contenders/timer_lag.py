"""How late `sleep(100 ms)` timers fire under the embedded load.

The `embedded` workload runs (warm-up, probe, then the measured burst); during the measured burst
a Naps workflow, whose only step is `sleep(100 ms)`, is started every 50 ms in the same engine.
A nap's lag is its sleep node's end minus its start minus 100 ms, as `engine.status` reports.

    python -m bench.contenders.timer_lag --workdir /tmp/x [--n 20000]
"""

from __future__ import annotations

import asyncio
from typing import Any

from bench.contenders.common import Options, calibrate_and_measure, emit_result, parse_options
from bench.contenders.dagger_side import (
    Completions,
    DaggerBench,
    Naps,
    lag_result,
    load_compiled,
    running,
)
from bench.contenders.embedded import fresh_database
from runtime import Engine
from runtime.types import CompiledWorkflow


async def main(options: Options) -> None:
    compiled = load_compiled()
    db = fresh_database(options.workdir, "timer-lag.db")
    seen = Completions(compiled.orders.name)
    workflows: list[CompiledWorkflow[Any]] = [compiled.orders, compiled.naps]
    async with Engine(f"sqlite:///{db}", workflows=workflows, observer=seen) as engine:
        naps = Naps(engine, compiled)
        bench = DaggerBench(engine, compiled, seen, naps)
        bench.subscribe_services()
        async with running(engine):
            figures, _ = await calibrate_and_measure(
                bench.burst, options, warmup_n=500, floor=2000, ceiling=300_000
            )
            lags = await naps.lags_ms()
    emit_result({**lag_result(lags, len(naps.ids)), "load": figures.as_json()})


if __name__ == "__main__":
    asyncio.run(main(parse_options(__doc__ or "")))
