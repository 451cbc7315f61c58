"""The Engine: runs compiled workflows durably over a broker and a store.

    async with Engine("sqlite:///dagger.db", workflows=[OrderWorkflow]) as engine:
        run = await engine.start(OrderWorkflow, Order(OrderId("A1"), 1250))
        await engine.run(until_idle=True)
        print(await engine.status(run.id))

Lifecycle: `async with` opens the backends (no background work yet). `start`, `status`, `list`,
`cancel` and `send` work at any time inside it. `run()` does the work: it consumes the listener
topics and every `subscribe`d topic, fires timers, runs calls and performs outboxes left behind,
until `shutdown()`, SIGTERM or SIGINT; then it stops taking work, lets running calls and steps
finish for `shutdown_grace` seconds (what is still running is handed back: a call's RunCall stays
owed and the run is announced on the hand-off topic; a step waiting on a broker that does not
answer keeps its messages in its outbox and its batch uncommitted), commits, and returns. Closing
waits at most a few seconds more for such a broker, so a worker stops in well under 30 s.
`run(until_idle=True)` returns once there is nothing left to do; timers pending in the future are
waited for, unless they are due more than `max_wait` seconds from now. `shutdown()` is idempotent; leaving the `async with` shuts down.

Decisions worth knowing:
- `status(id)` of an unknown id is None; `cancel(id)` of an unknown id raises UnknownRunError.
- Plain (sync) call functions run in a thread pool of `call_threads`; async ones on the loop.
  Plain calls started together share their trip to a thread, except a call with a timeout and a
  function once seen taking over 20 ms, which go alone (runtime/engine_threads.py).
- Over a store that is a `BatchStore` (SQLite, Aerospike), the steps of many runs share their
  round trips (runtime/engine_batch.py): a fetched batch of messages, the starts of one
  event-loop iteration, and the call results and timers of one iteration each make one step.
- A listener whose match is the workflow's key (`Listen.by_key`, set by daggerc) is found by its
  run's id: no correlation index is written for it, none queried (runtime/engine_waiters.py).
- While `run()` runs, the garbage collector runs less often (`gc_thresholds`, see GC_THRESHOLDS;
  None leaves the interpreter's settings alone); they are restored when it returns.
- At most `max_steps` steps run at once: by default 8 on memory or SQLite alone (a step is CPU
  and one shared commit), 64 over Kafka with a SQLite or memory store (a step also waits for
  an acknowledgement), 256 with a remote store (every read and write waits on the network);
  steps of runs in flight go before new starts; a batch step counts as one. Consumers fetch
  `batch_size` messages at a time (16 on memory or SQLite alone, else 256), and a batch step
  takes at most `batch_size` runs.
- Starting a worker performs every outbox still pending in the store at once (crash recovery);
  while serving it performs those untouched for `recover_after` seconds. A second worker started
  beside a busy one may therefore repeat a few effects: they are at least once, with stable ids.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import timedelta
from typing import Any, TypeVar

from runtime.backends.memory import MemoryBroker, MemoryStore
from runtime.backends.sqlite import SqliteBroker, SqliteStore
from runtime.engine_api import (
    EngineError,
    Run,
    RunPage,
    RunStatus,
    RunSummary,
    UnknownRunError,
    unreadable,
)
from runtime.engine_batch import Batches
from runtime.engine_calls import Calls
from runtime.engine_core import Core
from runtime.engine_idle import (
    GC_THRESHOLDS,
    Lifecycle,
    collecting,
    end_loops,
    patiently,
    signal_handlers,
)
from runtime.engine_loop import Intake, Subscriber, by_key, consume
from runtime.engine_registry import HANDOFF_TOPIC, Registry, dead_letter_topic
from runtime.engine_timers import Housekeeping, Timers
from runtime.ops.hooks import BaseObserver, EngineObserver
from runtime.types import (
    MESSAGE_ID_HEADER,
    BatchStore,
    Broker,
    Cancel,
    CompiledWorkflow,
    DecodeError,
    Outgoing,
    SendFailed,
    Status,
    Store,
    TopicSpec,
)
from runtime.urls import open_backends

S = TypeVar("S")
M = TypeVar("M")

_log = logging.getLogger("dagger.engine")
HAND_OFF_TIMEOUT_S = 3.0  # how long stopping waits to ask another worker to take runs over


def _seconds(value: timedelta | float | None) -> float | None:
    return value.total_seconds() if isinstance(value, timedelta) else value


def _sized(
    broker: Broker, store: Store, max_steps: int | None, batch_size: int | None
) -> tuple[int, int]:
    """(max_steps, batch_size): the given values, else what suits the backends.

    On memory or SQLite alone a step is CPU plus one shared commit: a few at a time keep the
    loop busy. A step that waits on the network leaves the loop idle unless many run at once,
    and then their sends and commits share requests too. Over Kafka with a local store a step
    waits for one acknowledgement (1-2 ms): measured with bench/kafka.py, 64 steps run as many
    workflows a second as 256 with a quarter of the step latency, and 8 run half as many. A
    remote store waits on every read and write, so 256."""
    if not isinstance(store, MemoryStore | SqliteStore):
        steps, batch = 256, 256
    elif isinstance(broker, MemoryBroker | SqliteBroker):
        steps, batch = 8, 16
    else:
        steps, batch = 64, 256
    return max_steps or steps, batch_size or batch


class Engine:
    """See the module docstring. `url` names the broker (and the store, unless `store_url`)."""

    def __init__(
        self,
        url: str,
        store_url: str | None = None,
        workflows: Iterable[CompiledWorkflow[Any]] = (),
        *,
        retention: timedelta | float | None = timedelta(days=7),
        early_retention: timedelta | float = timedelta(days=1),
        group: str = "dagger.engine",
        batch_size: int | None = None,
        max_steps: int | None = None,
        call_threads: int = 8,
        shutdown_grace: float = 10.0,
        recover_after: float = 30.0,
        observer: EngineObserver | None = None,
        handle_signals: bool = True,
        gc_thresholds: tuple[int, int, int] | None = GC_THRESHOLDS,
    ) -> None:
        self.url = url
        self.store_url = store_url or url
        self.broker, self.store = open_backends(url, store_url)
        self.registry = Registry.of(workflows)
        max_steps, batch_size = _sized(self.broker, self.store, max_steps, batch_size)
        self._core = Core(
            self.broker,
            self.store,
            self.registry,
            observer or BaseObserver(),
            retention=_seconds(retention),
            max_steps=max_steps,
        )
        self._batches = (
            Batches(self._core, self.store, batch_size)
            if isinstance(self.store, BatchStore)
            else None
        )
        process = self._core.process if self._batches is None else self._batches.process
        self._calls = Calls(process, call_threads)
        self._core.calls = self._calls
        self._life = Lifecycle(lambda: self._core.activity)
        self._timers = Timers(self._core, self._life, process)
        self._house = Housekeeping(
            self._core,
            self._life,
            lambda iid: self._core.locks.held(iid) or self._calls.running(iid),
            sweep_every=max(1.0, recover_after / 3),
            recover_after=recover_after,
        )
        self._intake = Intake(self._core, _seconds(early_retention) or 0.0, self._batches)
        self._group = group
        self._batch = batch_size
        self._grace = shutdown_grace
        self._signals = handle_signals
        self._gc = gc_thresholds
        self._subscribers: list[tuple[Subscriber, str]] = []
        self._open = False
        self._running = False
        self._ran: asyncio.Event | None = None

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Engine:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> None:
        """Connect the broker and the store; on failure, close what was opened and raise
        (`Unavailable` when a backend did not answer, and trying again later may work)."""
        if self._open:
            return
        await self.broker.start()
        try:
            await self.store.start()
        except BaseException:
            await self.broker.close()
            raise
        try:
            await self.broker.ensure_topics(self.registry.all_topics())
        except BaseException:
            await self.store.close()
            await self.broker.close()
            raise
        self._open = True

    async def close(self) -> None:
        """Shut down, hand deferred calls to the workers, close the backends."""
        if not self._open:
            return
        self.shutdown()
        if self._running and self._ran is not None:
            await self._ran.wait()
        await self._hand_off(self._calls.deferred)
        self._calls.deferred.clear()
        self._open = False
        await self.store.close()
        await self.broker.close()

    def shutdown(self) -> None:
        """Ask `run()` to stop (idempotent, safe from a signal handler)."""
        self._life.stop()

    async def run(self, until_idle: bool = False, *, max_wait: float | None = None) -> None:
        self._require_open()
        if self._running:
            raise EngineError("engine.run() is already running")
        self._running, self._ran = True, asyncio.Event()
        self._life.begin()
        try:
            wanted = not until_idle and self._signals
            with signal_handlers(self.shutdown, wanted), collecting(self._gc):
                await self._work(until_idle, max_wait)
        except BaseExceptionGroup as group:
            if len(group.exceptions) == 1:
                raise group.exceptions[0] from None
            raise
        finally:
            self._running = False
            self._ran.set()

    async def _work(self, until_idle: bool, max_wait: float | None) -> None:
        abandoned: set[str] = set()
        async with asyncio.TaskGroup() as tg:
            self._calls.attach(tg)
            self._calls.deferred.clear()
            await patiently("recovering outboxes", self._house.recover_all, sleep=self._life.sleep)
            topics = [*self.registry.listened, HANDOFF_TOPIC]
            consumer = self.broker.consumer(self._group, topics)
            intake = consume("intake", consumer, self._intake.handle_batch, self._life, self._batch)
            loops = [tg.create_task(intake)]
            subscribed = [s.topic.name for s, _g in self._subscribers]
            await self.broker.ensure_topics([dead_letter_topic(t) for t in subscribed])
            for sub, group in self._subscribers:
                c = self.broker.consumer(group, [sub.topic.name])
                handle = functools.partial(by_key, handle=sub.handle)
                loops.append(tg.create_task(consume(group, c, handle, self._life, self._batch)))
            loops.append(tg.create_task(self._timers.run()))
            loops.append(tg.create_task(self._house.run()))
            if until_idle:
                tg.create_task(self._stop_when_idle(max_wait))
            await self._life.wait_stop()
            ending = end_loops(loops, self._grace)
            abandoned, _ = await asyncio.gather(self._calls.drain(self._grace), ending)
        await self._hand_off(abandoned)

    async def _stop_when_idle(self, max_wait: float | None) -> None:
        def busy() -> bool:
            return self._core.inflight > 0 or self._calls.in_flight > 0

        local = isinstance(self.broker, MemoryBroker | SqliteBroker)
        await self._life.until_idle(busy, self._timers.next_due, max_wait, 0.0 if local else 0.5)
        self.shutdown()

    async def _hand_off(self, ids: Iterable[str]) -> None:
        """Ask another worker to take over these runs now (their outboxes owe calls); if the
        broker does not take the request soon, housekeeping finds the runs anyway."""
        messages = [
            Outgoing(HANDOFF_TOPIC, iid, iid.encode(), ((MESSAGE_ID_HEADER, uuid.uuid4().bytes),))
            for iid in sorted(ids)
        ]
        if not messages:
            return
        try:
            await asyncio.wait_for(self.broker.send(messages), HAND_OFF_TIMEOUT_S)
        except (TimeoutError, SendFailed) as exc:
            _log.warning(
                "%d run(s) not handed off (%r); housekeeping recovers them", len(messages), exc
            )

    def _require_open(self) -> None:
        if not self._open:
            raise EngineError("the engine is not open: use `async with Engine(...) as engine:`")

    # ------------------------------------------------------------------ runs

    async def start(self, workflow: CompiledWorkflow[S], state: S) -> Run[S]:
        """Start a run of `workflow` over `state`, idempotent by the workflow's key: when a run
        with this key exists, return it (`created=False`) and change nothing."""
        self._require_open()
        self.registry.workflow(workflow.name)
        if not isinstance(state, workflow.state_type):
            raise TypeError(
                f"{workflow.name} runs over {workflow.state_type.__name__} "
                f"(got {type(state).__name__})"
            )
        if self._batches is not None:
            iid, created = await self._batches.start(workflow, state)
        else:
            iid, created = await self._core.start(workflow, state)
        return Run(iid, workflow.name, created)

    async def status(self, run_id: str) -> RunStatus[Any] | None:
        """Everything known about a run; None when no run has this id."""
        self._require_open()
        try:
            loaded = await self._core.load(run_id)
        except DecodeError as exc:
            raise unreadable(run_id, exc) from exc
        if loaded is None:
            return None
        wf, _stored, instance, outbox = loaded
        return RunStatus.of(wf, instance, len(outbox))

    async def list(
        self,
        *,
        workflow: CompiledWorkflow[Any] | str | None = None,
        status: Status | str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> RunPage:
        """Runs ordered by id, filtered; pass `page.next` as `cursor` for the next page."""
        self._require_open()
        if limit < 1:
            raise ValueError(f"'limit' must be at least 1 (got {limit})")
        name = workflow.name if isinstance(workflow, CompiledWorkflow) else workflow
        wanted = Status(status).value if status is not None else None
        page = await self.store.list(name, wanted, limit, cursor)
        items = tuple(
            RunSummary(r.id, r.workflow, Status(r.status), r.updated_at) for r in page.items
        )
        return RunPage(items, page.next)

    async def cancel(self, run_id: str, reason: str = "cancelled") -> Status:
        """Stop a run (STOPPED); a finished run is left as it is. Returns the run's status."""
        self._require_open()
        if await self.store.get(run_id) is None:
            raise UnknownRunError(f"no run has id {run_id!r}")
        await self._core.process(run_id, Cancel("cancel", reason))
        after = await self.store.get(run_id)
        return Status(after.status) if after is not None else Status.STOPPED

    # ------------------------------------------------------------------ messages

    async def send(self, topic: TopicSpec[M], message: M, *, message_id: str | None = None) -> str:
        """Publish `message` as an outside producer would; returns its message id (a new one
        unless given: give a stable id to make a retried send recognisable)."""
        self._require_open()
        mid = message_id or uuid.uuid4().hex
        headers = ((MESSAGE_ID_HEADER, mid.encode()),)
        out = Outgoing(topic.name, topic.key(message), topic.encode(message), headers)
        self._core.activity += 1
        await self.broker.send([out])
        self._core.activity += 1
        return mid

    def subscribe(
        self,
        topic: TopicSpec[M],
        handler: Callable[[M], Awaitable[None]],
        *,
        group: str | None = None,
    ) -> None:
        """Call `handler(message)` for every message on `topic` while the engine runs, in its own
        consumer group (default `dagger.subscribe.<topic>[.n]`), so it sees every message. A
        message that does not decode, or whose handler raises, goes to `<topic>.dead-letter`
        with the reason. Call before `run()`."""
        if self._running:
            raise EngineError("subscribe() before run(): the engine is already running")
        taken = {g for _s, g in self._subscribers}
        base = group or f"dagger.subscribe.{topic.name}"
        name, n = base, 1
        while name in taken:
            name, n = f"{base}.{n}", n + 1
        self._subscribers.append((Subscriber(self._core, topic, handler, self._life), name))
