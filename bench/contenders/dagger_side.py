"""dagger's side of the workload, shared by the `embedded`, `kafka` and `timer_lag` contenders.

The workflow is bench/workloads/orders2.py compiled by `daggerc build bench/workloads --out
bench/generated` (the orchestrator builds it first). Generated modules are loaded by name at run
time, so this module type-checks before they exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import sys
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, cast

from attrs import frozen

from bench.contenders.common import Figures, Tracker, percentile
from bench.workloads.naps import Nap
from bench.workloads.orders2 import Charge, Order, OrderId, PaymentResult, Ship, Shipped
from runtime import Engine
from runtime.ops.hooks import BaseObserver
from runtime.types import CompiledWorkflow, Status, TopicSpec

NAP_S = 0.1


@frozen
class Compiled:
    """The generated handles the bench uses."""

    orders: CompiledWorkflow[Order]
    naps: CompiledWorkflow[Nap]
    charges: TopicSpec[Charge]
    payments: TopicSpec[PaymentResult]
    shipments: TopicSpec[Ship]
    shipped: TopicSpec[Shipped]

    @property
    def topics(self) -> tuple[str, ...]:
        return tuple(t.name for t in (self.charges, self.payments, self.shipments, self.shipped))


def load_compiled() -> Compiled:
    """The generated modules; a ModuleNotFoundError says to run `daggerc build` first."""
    try:
        orders: Any = importlib.import_module("bench.generated.orders2")
        naps: Any = importlib.import_module("bench.generated.naps")
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            f"{exc.name} is missing: run `daggerc build bench/workloads --out bench/generated` first"
        ) from exc
    return Compiled(
        orders=cast(CompiledWorkflow[Order], orders.Orders2),
        naps=cast(CompiledWorkflow[Nap], naps.Naps),
        charges=cast(TopicSpec[Charge], orders.BENCH_PAYMENT_COMMAND),
        payments=cast(TopicSpec[PaymentResult], orders.BENCH_PAYMENT_LISTENER),
        shipments=cast(TopicSpec[Ship], orders.BENCH_SHIPPING_COMMAND),
        shipped=cast(TopicSpec[Shipped], orders.BENCH_SHIPPING_LISTENER),
    )


class Completions(BaseObserver):
    """Tells the current tracker when an order workflow completes (ids are "Workflow:key")."""

    def __init__(self, workflow: str) -> None:
        self.workflow = workflow
        self.tracker = Tracker("idle", 0)

    def on_status(self, instance_id: str, workflow: str, status: Status) -> None:
        if status is Status.COMPLETED and workflow == self.workflow:
            self.tracker.completed(instance_id.partition(":")[2])


class DaggerBench:
    """Bursts of Orders2 on one engine, with the simulated services subscribed to it."""

    def __init__(
        self, engine: Engine, compiled: Compiled, seen: Completions, naps: Naps | None = None
    ) -> None:
        self.engine = engine
        self.compiled = compiled
        self.seen = seen
        self.naps = naps  # started alongside the measured burst ("run"), when given

    def subscribe_services(self, group_prefix: str | None = None) -> None:
        c, engine = self.compiled, self.engine

        async def payment(m: Charge) -> None:
            self.seen.tracker.payment_replied(m.order_id)
            reply = PaymentResult(m.order_id, ok=True)
            await engine.send(c.payments, reply, message_id=f"pay/{m.order_id}")

        async def shipping(m: Ship) -> None:
            self.seen.tracker.shipping_requested(m.order_id)
            reply = Shipped(m.order_id, tracking=f"T-{m.order_id}")
            await engine.send(c.shipped, reply, message_id=f"ship/{m.order_id}")

        prefix = group_prefix + "." if group_prefix else ""
        engine.subscribe(c.charges, payment, group=f"{prefix}bench.payment" if prefix else None)
        engine.subscribe(c.shipments, shipping, group=f"{prefix}bench.shipping" if prefix else None)

    async def burst(self, phase: str, n: int) -> Figures:
        if self.naps is None or phase != "run":
            return await self._burst(phase, n)
        stop = asyncio.Event()
        napping = asyncio.create_task(self.naps.start_until(stop, phase))
        try:
            return await self._burst(phase, n)
        finally:
            stop.set()
            await napping

    async def _burst(self, phase: str, n: int) -> Figures:
        tracker = self.seen.tracker = Tracker(phase, n)
        tracker.start_clock()
        orders = self.compiled.orders
        await asyncio.gather(
            *(self.engine.start(orders, Order(OrderId(o), 1250)) for o in tracker.order_ids())
        )
        await tracker.wait(timeout=300.0)
        if tracker.done < n:
            await report_lost(self.engine, orders.name, tracker)
        return tracker.figures()


async def report_lost(engine: Engine, workflow: str, tracker: Tracker, show: int = 5) -> None:
    """On stderr: how many orders did not complete, and where the first few of them stand."""
    missing = tracker.missing()
    print(f"{len(missing)} of {tracker.total} orders did not complete; the first:", file=sys.stderr)
    for order in missing[:show]:
        status = await engine.status(f"{workflow}:{order}")
        if status is None:
            where = "no run"
        else:
            running = [n.name for n in status.nodes if n.status.value == "EXECUTING"]
            where = f"{status.status.value} at {running}, {status.pending_effects} effects pending"
        print(f"  {order}: {tracker.stage(order)}; {where}", file=sys.stderr)


@contextlib.asynccontextmanager
async def running(engine: Engine) -> AsyncIterator[None]:
    """`engine.run()` in the background for the block; shut down and awaited after it."""
    serving = asyncio.create_task(engine.run())
    try:
        yield
    finally:
        engine.shutdown()
        await serving


# --------------------------------------------------------------------------------- timer lag


class Naps:
    """Starts a `sleep(100 ms)` workflow every `every` seconds until stopped; reads their lag."""

    def __init__(self, engine: Engine, compiled: Compiled, every: float = 0.05) -> None:
        self.engine = engine
        self.workflow = compiled.naps
        self.every = every
        self.ids: list[str] = []

    async def start_until(self, stop: asyncio.Event, phase: str) -> None:
        """A nap every `every` seconds, each started in a task of its own so a slow start under
        load does not thin out the rest."""
        starting: list[asyncio.Task[None]] = []
        while not stop.is_set():
            nap = Nap(f"{phase}-nap-{len(starting):06d}")
            starting.append(asyncio.create_task(self._start(nap)))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.every)
        await asyncio.gather(*starting)

    async def _start(self, nap: Nap) -> None:
        run = await self.engine.start(self.workflow, nap)
        self.ids.append(run.id)

    async def lags_ms(self, timeout: float = 30.0) -> list[float]:
        """Per finished nap: sleep node end - start - 100 ms. Waits for the naps to finish."""
        deadline = time.monotonic() + timeout
        while True:
            lags, pending = await self._read()
            if pending == 0 or time.monotonic() > deadline:
                return lags
            await asyncio.sleep(0.1)

    async def _read(self) -> tuple[list[float], int]:
        lags: list[float] = []
        pending = 0
        for run_id in self.ids:
            status = await self.engine.status(run_id)
            if status is None or status.status is not Status.COMPLETED:
                pending += 1
                continue
            for node in status.nodes:
                if (
                    node.kind == "sleep"
                    and node.started_at is not None
                    and node.ended_at is not None
                ):
                    lags.append((node.ended_at - node.started_at - NAP_S) * 1000)
        return lags, pending


def lag_result(lags: Sequence[float], started: int) -> dict[str, object]:
    return {
        "p50_ms": round(percentile(lags, 50), 2),
        "p99_ms": round(percentile(lags, 99), 2),
        "n": len(lags),
        "unfinished": started - len(lags),
    }
