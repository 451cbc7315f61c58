"""Where plain (sync) call functions run: a pool of threads, so one that blocks on I/O does not
stall the event loop and every other run with it.

Handing one function to a thread and its result back to the loop costs about 50 µs of CPU (a
queue, two thread wake-ups, the GIL changing hands twice, a write to the loop's self-pipe): more
than most call functions take. So the calls started in one event-loop iteration share the hop:
they are cut into as many chunks as the pool has threads (so calls that do block still run side
by side), of at most `CHUNK`; a thread runs a chunk's calls one after another and hands all the
results back at once (`python -m bench.calls`, 1,000 at once: 9-12 µs of CPU a call against
41-47 µs, asyncio's own 5 µs included). Each caller gets its own result or exception.

Two kinds of call always go alone, so no other call waits behind them:
- a call with a `timeout`: its attempt is timed on its own, never with a slower neighbour's time;
- a function seen taking longer than `SLOW_S` once: from then on, in this engine, it goes alone
  (the first time, the calls after it in its chunk waited for it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from runtime.gathered import Gathered

CHUNK = 32  # calls handed to one thread at once
# A function that once took longer goes alone from then on. Wall time: a quick one that waited
# for the GIL in a busy process (a switch interval is 5 ms) must not pass for slow.
SLOW_S = 0.02

Fn = Callable[[Any], Any]


class Threads:
    """The pool plain call functions run in; `await threads.run(fn, state, alone=...)`."""

    def __init__(self, threads: int) -> None:
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="dagger-call")
        self._shared: Gathered[tuple[Fn, object], object] = Gathered(
            self._hop, CHUNK, spread=threads
        )
        self.slow: set[int] = set()  # ids of the functions that go alone (added from the pool)

    async def run(self, fn: Fn, state: object, *, alone: bool) -> object:
        if alone or id(fn) in self.slow:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, state)
        return await self._shared((fn, state))

    def shutdown(self) -> None:
        """Stop taking work; calls under way in a thread finish there, unwaited."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _hop(self, calls: list[tuple[Fn, object]]) -> list[object | Exception]:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._run_all, calls)

    def _run_all(self, calls: list[tuple[Fn, object]]) -> list[object | Exception]:
        """In a pool thread: each call in turn, its exception kept as its outcome."""
        outcomes: list[object | Exception] = []
        for fn, state in calls:
            began = time.perf_counter()
            try:
                outcomes.append(fn(state))
            except Exception as exc:
                outcomes.append(exc)
            if time.perf_counter() - began > SLOW_S:
                self.slow.add(id(fn))  # a workflow's functions live as long as the engine
        return outcomes
