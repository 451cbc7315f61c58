"""When to stop: a stop request (SIGTERM and SIGINT among them), and (for `run(until_idle=True)`)
knowing that all work is done; how long stopping waits (`end_loops`); and the garbage collector's
settings while an engine runs (`collecting`).

Idle means: every consumer loop's latest fetch found nothing although it began after the last piece
of work anywhere (so nothing sent before it can be missing), no call is running, no event is being
applied, and no timer is due within `max_wait` (None: no timer at all). The check needs two
consecutive idle observations, so a message sent in between always wins. On memory and SQLite a
sent message is visible to the next fetch, so that is exact; over Kafka it takes a moment to
reach a consumer, so idleness must also last `settle` seconds there.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Iterator

from runtime.types import Unavailable

_log = logging.getLogger("dagger.engine")
RETRY_FIRST_S, RETRY_MAX_S = 0.5, 30.0  # pauses before trying a backend that did not answer


class Lifecycle:
    def __init__(self, activity: Callable[[], int]) -> None:
        self._activity = activity
        self._stop: asyncio.Event | None = None
        self._quiet: dict[str, int] = {}
        self.stopping = False

    def begin(self) -> None:
        self._stop = asyncio.Event()
        self._quiet.clear()
        self.stopping = False

    def stop(self) -> None:
        self.stopping = True
        if self._stop is not None:
            self._stop.set()

    async def wait_stop_or(self, other: asyncio.Event) -> None:
        """Return when stop() is called or `other` is set."""
        assert self._stop is not None
        waiters = [asyncio.ensure_future(self._stop.wait()), asyncio.ensure_future(other.wait())]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()

    async def wait_stop(self) -> None:
        assert self._stop is not None
        await self._stop.wait()

    async def sleep(self, seconds: float) -> bool:
        """Sleep unless stopped first; True when stopped."""
        assert self._stop is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)
        return self.stopping

    # ------------------------------------------------------------------ idleness

    def register(self, loop: str) -> None:
        self._quiet[loop] = -1

    def mark(self) -> int:
        """Call before a fetch; pass the result to `quiet` if the fetch found nothing."""
        return self._activity()

    def quiet(self, loop: str, mark: int) -> None:
        self._quiet[loop] = mark

    def looks_idle(self) -> bool:
        now = self._activity()
        return all(mark == now for mark in self._quiet.values())

    async def until_idle(
        self,
        busy: Callable[[], bool],
        next_due: Callable[[], Awaitable[float | None]],
        max_wait: float | None,
        settle: float = 0.0,
    ) -> None:
        """Return once idle twice in a row and for `settle` seconds (checked every 10 ms), or
        when stopped."""
        streak, since = 0, time.monotonic()
        while not self.stopping:
            idle = self.looks_idle() and not busy() and await self._no_timer(next_due, max_wait)
            streak = streak + 1 if idle else 0
            if not idle:
                since = time.monotonic()
            if streak >= 2 and time.monotonic() - since >= settle:
                return
            if await self.sleep(0.01):
                return

    @staticmethod
    async def _no_timer(
        next_due: Callable[[], Awaitable[float | None]], max_wait: float | None
    ) -> bool:
        due = await next_due()
        if due is None:
            return True
        return max_wait is not None and due > time.time() + max_wait


GC_THRESHOLDS = (50_000, 20, 100)
"""The garbage collector's thresholds while `run()` runs. A worker allocates many short-lived
objects per step over a heap that holds every run in flight; at CPython's defaults (700, 10, 10)
the collector scans that heap so often that it took 40% of the CPU over Kafka with 20,000 runs
in flight (bench/kafka.py: 1,548 -> 2,386 workflows/s with these)."""


_collector: list[tuple[int, ...]] = []  # the thresholds found by the first of the runs under way


@contextlib.contextmanager
def collecting(thresholds: tuple[int, int, int] | None) -> Iterator[None]:
    """The collector's thresholds set to `thresholds` for the block (None: left alone). Blocks
    of several engines may overlap: the thresholds found before the first are restored after
    the last, whichever order they end in."""
    if thresholds is None:
        yield
        return
    _collector.append(gc.get_threshold())
    gc.set_threshold(*thresholds)
    try:
        yield
    finally:
        first = _collector[0]
        _collector.pop()
        if not _collector:
            gc.set_threshold(*first)


@contextlib.contextmanager
def signal_handlers(stop: Callable[[], None], wanted: bool) -> Iterator[None]:
    """SIGTERM and SIGINT call `stop` while the block runs (when wanted, on the main thread)."""
    if not (wanted and threading.current_thread() is threading.main_thread()):
        yield
        return
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    try:
        yield
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


async def end_loops(loops: list[asyncio.Task[None]], grace: float) -> None:
    """After a stop: give the loops `grace` seconds to finish what they hold, then cancel those
    still waiting (on a broker that does not answer). Whatever they did not finish is in the
    store (outboxes) or not yet committed (delivered again), for the next start."""
    _done, waiting = await asyncio.wait(loops, timeout=grace)
    if waiting:
        _log.warning(
            "%d loop(s) still waiting on the broker %.0f s after the stop were cancelled;"
            " what they held is resent or delivered again on the next start",
            len(waiting),
            grace,
        )
    for task in waiting:
        task.cancel()


async def _pause(seconds: float) -> bool:
    await asyncio.sleep(seconds)
    return False  # never "stopped": a stopping engine cancels the wait after its grace


async def patiently(
    what: str,
    work: Callable[[], Awaitable[None]],
    *,
    errors: tuple[type[Exception], ...] = (Unavailable,),
    sleep: Callable[[float], Awaitable[bool]] = _pause,
) -> bool:
    """`work()`, done again after a pause (RETRY_FIRST_S doubling to RETRY_MAX_S) while it
    raises one of `errors`: a store that does not answer (`Unavailable`), or a broker
    (`SendFailed`). False when `sleep` (`Lifecycle.sleep`) says the engine stopped first. Work
    the engine does is safe to do twice: an event applied already is skipped, a message sent
    again has its id."""
    pause = RETRY_FIRST_S
    while True:
        try:
            await work()
            return True
        except errors as exc:
            _log.warning("%s waits %.1f s for the backend: %s", what, pause, exc)
            if await sleep(pause):
                return False
            pause = min(2 * pause, RETRY_MAX_S)
