"""Durable timers and housekeeping.

The timer loop sleeps until the store's next due time, woken early when this engine sets a nearer
timer, and fires what is due as `TimerFired(f"timer/{timer_id}")` (the core removes the timer from
the due index once the event is recorded). There is no fixed tick; the sleep is capped (`poll_cap`,
200 ms) only to notice timers that other processes sharing the store set. A due timer of a run
this engine cannot read (a workflow it does not serve, or another version of one) is left where it
is for an engine that can, with one warning: this engine no longer counts it as due.

Housekeeping, every `sweep_every` seconds: performs outboxes left behind (by a crashed process, or
by one that handed its calls over) that nobody touched for `recover_after` seconds, and purges
expired early messages and finished runs past retention. The outbox of a run this engine cannot
read is left to an engine that can, with one warning, and not looked at again until it changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from runtime.engine_api import UnreadableRunError
from runtime.engine_core import Core
from runtime.engine_idle import Lifecycle, patiently
from runtime.types import DueTimer, Event, TimerFired

_log = logging.getLogger("dagger.engine")
_BATCH = 256
_FAR = 1e12  # seconds since the epoch: later than any timer (year 33,658)

Slot = tuple[str, str]  # (instance id, timer id)


class Timers:
    def __init__(
        self,
        core: Core,
        life: Lifecycle,
        process: Callable[[str, Event], Awaitable[None]],
        poll_cap: float = 0.2,
    ) -> None:
        self._core = core
        self._process = process
        self._life = life
        self._cap = poll_cap
        self._wake: asyncio.Event | None = None
        self._planned = 0.0  # when the loop means to look again
        self._left: dict[Slot, float] = {}  # due timers left to other engines -> their due time
        self._newly_left: list[str] = []  # why, for the next warning
        core.timer_set = self.nudge

    def nudge(self, due: float) -> None:
        """A timer due at `due` was just set: look again now if that is sooner than planned."""
        if self._wake is not None and due < self._planned:
            self._wake.set()

    async def run(self) -> None:
        self._wake = asyncio.Event()
        try:
            while not self._life.stopping:
                await patiently("the timer loop", self._once, sleep=self._life.sleep)
        finally:
            self._wake = None

    async def next_due(self) -> float | None:
        """The earliest due time among the store's timers, leaving out those left to other
        engines (while there are any, a query for the earliest few instead of the minimum)."""
        if not self._left:
            return await self._core.store.next_due()
        earliest = await self._due(_FAR)  # at most len(left) of them are left: one is not
        return earliest[0].due if earliest else None

    async def _due(self, until: float, more: int = 1) -> list[DueTimer]:
        """Timers due by `until`, earliest first, leaving out those left to other engines; up
        to `more` of them (or all when fewer). Forgets left timers that are gone."""
        limit = len(self._left) + more
        timers = await self._core.store.due_timers(until, limit)
        left: dict[Slot, float] = {}
        out: list[DueTimer] = []
        for t in timers:
            slot = (t.instance_id, t.timer_id)
            if self._left.get(slot) == t.due:
                left[slot] = t.due
            else:
                out.append(t)
        if len(timers) < limit:  # every timer due by `until` is here: the rest are gone
            self._left = left
        return out

    async def _once(self) -> None:
        assert self._wake is not None
        now = time.time()
        nxt = await self.next_due()
        if nxt is not None and nxt <= now:
            due = await self._due(now, _BATCH)
            await asyncio.gather(*(self._fire(t) for t in due))
            if self._newly_left:
                _log.warning(
                    "left %d due timer(s) to engines that can read their runs; the first: %s",
                    len(self._newly_left),
                    self._newly_left[0],
                )
                self._newly_left.clear()
            return
        delay = self._cap if nxt is None else min(nxt - now, self._cap)
        self._planned = now + delay
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._life.wait_stop_or(self._wake), delay)
        self._planned = 0.0

    async def _fire(self, timer: DueTimer) -> None:
        self._core.observer.on_timer_lag(max(0.0, time.time() - timer.due))
        event = TimerFired(f"timer/{timer.timer_id}", timer.timer_id)
        try:
            await self._process(timer.instance_id, event)
        except UnreadableRunError as exc:
            self._left[(timer.instance_id, timer.timer_id)] = timer.due
            self._newly_left.append(f"timer {timer.timer_id}: {exc}")


class Housekeeping:
    def __init__(
        self,
        core: Core,
        life: Lifecycle,
        busy: Callable[[str], bool],
        *,
        sweep_every: float,
        recover_after: float,
    ) -> None:
        self._core = core
        self._life = life
        self._busy = busy
        self._every = sweep_every
        self._after = recover_after
        self._left: dict[str, int] = {}  # runs it cannot read -> the generation seen then
        self._newly_left: list[str] = []  # why, for the next warning

    async def recover_all(self) -> None:
        """Perform every pending outbox not being performed here (start of `run()`)."""
        await self._sweep(min_age=0.0)

    async def run(self) -> None:
        while not self._life.stopping:
            if await self._life.sleep(self._every):
                return
            await patiently("housekeeping", self._sweep_and_purge, sleep=self._life.sleep)

    async def _sweep_and_purge(self) -> None:
        await self._sweep(min_age=self._after)
        await self._purge()

    async def _sweep(self, min_age: float) -> None:
        store = self._core.store
        ids = [i for i in await store.with_outbox(10_000) if not self._busy(i)]
        self._core.observer.on_outbox_depth(len(ids))
        cutoff = time.time() - min_age
        jobs: list[Awaitable[None]] = []
        present = set(ids)
        self._left = {i: g for i, g in self._left.items() if i in present}
        for iid in ids:
            stored = await store.get(iid)
            if stored is None or not stored.outbox or stored.updated_at > cutoff:
                continue
            if self._left.get(iid) != stored.generation:  # else: left alone, and unchanged
                jobs.append(self._recover(iid, stored.generation))
        await asyncio.gather(*jobs)
        if self._newly_left:
            _log.warning(
                "left %d outbox(es) to engines that can read their runs; the first: %s",
                len(self._newly_left),
                self._newly_left[0],
            )
            self._newly_left.clear()

    async def _recover(self, iid: str, generation: int) -> None:
        try:
            await self._core.recover(iid)
        except UnreadableRunError as exc:
            self._left[iid] = generation
            self._newly_left.append(str(exc))

    async def _purge(self) -> None:
        dropped = await self._core.store.purge(time.time())
        if dropped:
            _log.info("purged %d expired early messages and finished runs", dropped)
