"""Calls made in one event-loop iteration, handled together: what the engine's batch steps
(starts, call results, timers) and the Kafka broker's sends are built on."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Gathered(Generic[T, R]):
    """Calls made in one event-loop iteration, handled as batches. `await gathered(item)` queues
    `item`; once per iteration the queue goes to `handle` in chunks of `size`, each chunk in a
    task of its own, and each caller gets its own item's outcome: the result, or the exception
    `handle` gave for it. When `handle` itself raises, every caller of that chunk gets the error.
    With `spread` > 1, an iteration's calls are cut into at least `spread` chunks when there are
    enough of them (for handlers that run chunks in parallel, such as a pool of threads)."""

    def __init__(
        self,
        handle: Callable[[list[T]], Awaitable[list[R | Exception]]],
        size: int,
        spread: int = 1,
    ):
        self._handle = handle
        self._size = size
        self._spread = spread
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def __call__(self, item: T) -> R:
        loop = asyncio.get_running_loop()
        outcome: asyncio.Future[R] = loop.create_future()
        self._queue.append((item, outcome))
        if len(self._queue) == 1:
            loop.call_soon(self._flush)
        return await outcome

    def _flush(self) -> None:
        queue, self._queue = self._queue, []
        size = min(self._size, -(-len(queue) // self._spread))
        for at in range(0, len(queue), size):
            task = asyncio.create_task(self._run(queue[at : at + size]))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, chunk: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            outcomes = await self._handle([item for item, _ in chunk])
        except Exception as exc:
            outcomes = [exc] * len(chunk)
        except BaseException:
            for _item, fut in chunk:
                fut.cancel()
            raise
        for (_item, fut), outcome in zip(chunk, outcomes, strict=True):
            if fut.done():
                continue
            if isinstance(outcome, Exception):
                fut.set_exception(outcome)
            else:
                fut.set_result(outcome)
