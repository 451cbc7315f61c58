"""Running `call` nodes: the user's function on the run's state, then CallFinished.

Async functions run on the event loop. Plain functions run in a thread pool (`call_threads`), since
nothing says they are quick: one that blocks on I/O must not stall every other run; calls started
together share their trip to a thread (runtime/engine_threads.py). A per-attempt
`timeout` stops waiting for the attempt (a thread cannot be killed: it finishes in the background and
its result is ignored). Success and failure both come back as `CallFinished(f"call/{node}/{attempt}")`;
retries and backoff are the machine's business.

Calls run only while the engine runs (`engine.run()`); a RunCall performed by an engine that is not
running (a script or `daggerc start`) is deferred: `run()` starts it, or, when the engine closes
without running, the instance id is handed to the workers on the hand-off topic.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from runtime.engine_api import UnreadableRunError
from runtime.engine_idle import patiently
from runtime.engine_threads import Threads
from runtime.types import Call, CallFinished, CompiledWorkflow, Event, Instance, RunCall

_log = logging.getLogger("dagger.engine")

CallKey = tuple[str, int, int]  # (instance id, node, attempt)


class Calls:
    """Launches, tracks and drains call attempts."""

    def __init__(self, process: Callable[[str, Event], Awaitable[None]], threads: int) -> None:
        self._process = process
        self._thread_count = threads
        self._group: asyncio.TaskGroup | None = None
        self._pool: Threads | None = None
        self._tasks: dict[CallKey, asyncio.Task[None]] = {}
        self._per_run: collections.Counter[str] = collections.Counter()  # attempts under way
        self.deferred: set[str] = set()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def running(self, iid: str) -> bool:
        return iid in self._per_run

    def attach(self, group: asyncio.TaskGroup) -> None:
        self._group = group
        self._pool = Threads(self._thread_count)

    def launch(self, wf: CompiledWorkflow[Any], instance: Instance[Any], call: RunCall) -> None:
        key = (instance.id, call.node, call.attempt)
        if key in self._tasks:
            return  # already running here (a replayed outbox)
        if self._group is None:
            self.deferred.add(instance.id)
            return
        node = wf.nodes[call.node]
        if not isinstance(node, Call):
            _log.error(
                "instance %s: node %d is not a call; RunCall ignored", instance.id, call.node
            )
            return
        task = self._group.create_task(self._run(key, node, instance.state))
        self._tasks[key] = task
        self._per_run[instance.id] += 1

    async def _run(self, key: CallKey, node: Call[Any], state: object) -> None:
        iid, n, attempt = key
        try:
            result, error = await self._attempt(node, state)
            event = CallFinished(f"call/{n}/{attempt}", n, attempt, result, error, base=state)
            await self._record(iid, event)
        finally:
            if self._tasks.pop(key, None) is not None:
                self._per_run[iid] -= 1
                if self._per_run[iid] <= 0:
                    del self._per_run[iid]

    async def _record(self, iid: str, event: CallFinished) -> None:
        """Apply a call's result; while the store is away, again after a pause (a stopping
        engine cancels the wait after its grace: the call stays owed and runs again)."""
        try:
            applying = functools.partial(self._process, iid, event)
            await patiently(f"the result of call {event.event_id}", applying)
        except UnreadableRunError as exc:  # rewritten meanwhile by another build
            _log.warning("the result of call %s is not recorded: %s", event.event_id, exc)

    async def _attempt(self, node: Call[Any], state: object) -> tuple[object | None, str | None]:
        """(result, None) or (None, what went wrong). A TimeoutError the function raised itself
        (a socket's, say) is its error like any other; only the attempt's own `timeout` running
        out reads "timed out after"."""
        limit = None if node.timeout is None else asyncio.timeout(node.timeout)
        try:
            if limit is None:
                return await self._invoke(node.fn, state, alone=False), None
            async with limit:
                return await self._invoke(node.fn, state, alone=True), None
        except Exception as exc:
            if limit is not None and limit.expired() and isinstance(exc, TimeoutError):
                return None, f"timed out after {node.timeout:g} s"
            return None, f"{type(exc).__name__}: {exc}"

    async def _invoke(self, fn: Callable[[Any], Any], state: object, *, alone: bool) -> object:
        if inspect.iscoroutinefunction(fn):
            return await fn(state)
        if self._pool is None:
            raise RuntimeError("a call ran while the engine was not running")
        result = await self._pool.run(fn, state, alone=alone)
        if inspect.isawaitable(result):
            return await result
        return result

    async def drain(self, grace: float) -> set[str]:
        """Let running attempts finish for up to `grace` seconds, then stop waiting for the
        rest; returns the instances whose attempts were abandoned (their RunCall is still owed)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks.values()), timeout=grace)
        abandoned = set()
        for key, task in list(self._tasks.items()):  # in user code, or applying its result (a
            if not task.done():  # broker that does not answer holds that): the call stays owed
                abandoned.add(key[0])
                task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks.values()))
        self._group = None
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        return abandoned
