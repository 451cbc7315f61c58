"""What running a plain (sync) call function costs the engine, per call.

    .venv/bin/python -m bench.calls [--n 20000] [--together 1000]

`--together` trivial calls are started at once (as a batch step starts the calls of many runs),
`--n` in all, three ways: each in a thread of its own pool trip (`run_in_executor`, what the
engine did before), through the engine's `Threads` (runtime/engine_threads.py: calls started
together share a trip), and on the loop itself (the floor: what asyncio costs around the call).
Prints wall and CPU time per call.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from runtime.engine_threads import Threads


def bump(x: int) -> int:
    return x + 1


async def measure(
    call: Callable[[int], Awaitable[object]], n: int, together: int
) -> tuple[float, float]:
    """(wall, CPU) seconds per call."""
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(max(n // together, 1)):
        await asyncio.gather(*(call(i) for i in range(together)))
    done = max(n // together, 1) * together
    return (time.perf_counter() - wall) / done, (time.process_time() - cpu) / done


async def main(n: int, together: int) -> None:
    loop = asyncio.get_running_loop()
    pool = ThreadPoolExecutor(8)
    threads = Threads(8)

    async def alone(x: int) -> object:
        return await loop.run_in_executor(pool, bump, x)

    async def shared(x: int) -> object:
        return await threads.run(bump, x, alone=False)

    async def inline(x: int) -> object:
        return bump(x)

    print(f"{n:,} trivial sync calls, {together:,} started at once")
    for name, call in (
        ("a pool trip each (run_in_executor)", alone),
        ("shared trips (engine Threads)", shared),
        ("on the loop (the floor)", inline),
    ):
        await measure(call, n // 10, together)  # warm-up: threads started, code warm
        wall, cpu = await measure(call, n, together)
        print(f"{name:<36} {wall * 1e6:7.1f} µs wall  {cpu * 1e6:7.1f} µs CPU per call")
    pool.shutdown()
    threads.shutdown()


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=20_000, help="calls in all (default 20,000)")
    parser.add_argument("--together", type=int, default=1000, help="started at once")
    args = parser.parse_args(argv)
    if args.n < 1 or not 1 <= args.together <= args.n:
        parser.error("--n must be at least 1 and --together between 1 and --n")
    return args


if __name__ == "__main__":
    options = parse(None)
    asyncio.run(main(options.n, options.together))
