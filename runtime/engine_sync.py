"""Who may work when: a lock per instance, and a bounded number of steps at once.

Bounding the steps in progress keeps each event-loop iteration short (latency) while still giving
the SQLite group commit many writes per commit (throughput). Steps of runs already in flight
(messages, timers, call results) take a free slot before new starts do, so a burst of starts
cannot starve the runs that are half way.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator


class Locks:
    """One asyncio.Lock per instance id, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    def held(self, key: str) -> bool:
        return key in self._locks

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key) or (asyncio.Lock(), 0)
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            self._leave(key)

    async def claim(self, keys: list[str]) -> list[str]:
        """Take the locks of those `keys` nobody holds or waits for, without waiting (a batch
        step leaves the others to steps of their own); the keys taken, to `release` later."""
        taken: list[str] = []
        for key in keys:
            if key in self._locks:
                continue
            lock = asyncio.Lock()
            await lock.acquire()  # free: returns at once
            self._locks[key] = (lock, 1)
            taken.append(key)
        return taken

    async def wait_free(self, keys: list[str]) -> None:
        """Return once each of `keys` has been free at some moment (holding none meanwhile)."""
        for key in keys:
            if key in self._locks:
                async with self.hold(key):
                    pass

    def release(self, keys: list[str]) -> None:
        """Give back locks taken with `claim`."""
        for key in keys:
            self._locks[key][0].release()
            self._leave(key)

    def _leave(self, key: str) -> None:
        """One user fewer of `key`'s lock; the lock goes when nobody holds or waits for it."""
        lock, users = self._locks[key]
        if users == 1:
            del self._locks[key]
        else:
            self._locks[key] = (lock, users - 1)


class Slots:
    """`limit` slots; urgent waiters are served first, and the others (new starts) hold at most a
    quarter of the slots, so a burst of starts leaves room for the replies it causes."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"'max_steps' must be at least 1 (got {limit})")
        self._free = limit
        self._later_limit = max(1, limit // 4)
        self._later_held = 0
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._later: deque[asyncio.Future[None]] = deque()

    @contextlib.asynccontextmanager
    async def hold(self, urgent: bool) -> AsyncIterator[None]:
        await self._acquire(urgent)
        try:
            yield
        finally:
            self._release(urgent)

    def _may_take(self, urgent: bool) -> bool:
        if self._free == 0 or self._urgent:
            return False
        return urgent or (not self._later and self._later_held < self._later_limit)

    async def _acquire(self, urgent: bool) -> None:
        if self._may_take(urgent):
            self._take(urgent)
            return
        fut = asyncio.get_running_loop().create_future()
        (self._urgent if urgent else self._later).append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self._release(urgent)  # the slot was given to us as we were cancelled
            raise

    def _take(self, urgent: bool) -> None:
        self._free -= 1
        if not urgent:
            self._later_held += 1

    def _release(self, urgent: bool) -> None:
        self._free += 1
        if not urgent:
            self._later_held -= 1
        self._wake(self._urgent, urgent=True)
        if self._free and self._later_held < self._later_limit and not self._urgent:
            self._wake(self._later, urgent=False)

    def _wake(self, queue: deque[asyncio.Future[None]], *, urgent: bool) -> None:
        while queue and self._free:
            fut = queue.popleft()
            if not fut.done():
                self._take(urgent)
                fut.set_result(None)  # the slot is now the waiter's
                return
