"""The embedded contender: dagger on `sqlite:///` in one process, the benchmark workload.

Each order runs PAYMENT (a command, then a listener correlated by order id) and then SHIPPING (the
same); simulated payment and shipping services answer through `engine.subscribe`. N orders are
started at once; figures as in `bench.contenders.common`. The workflow is built here from runtime
types, exactly as a generated module builds it, so this bench needs no compiler.

    .venv/bin/python -m bench.embedded --workdir /tmp/dagger-bench [--n 5000] [--seconds 20]
                                       [--two-files]

`--two-files` keeps the log and the state in two SQLite files, so a step's writes cannot share one
transaction (each write waits for its own group commit): the before/after of that batching.

Prints the contender protocol on stdout (one JSON object per line) and a summary on stderr,
including how late sleep timers (100 ms to 2 s) fired while the measured burst ran.
"""

from __future__ import annotations

import asyncio
import resource
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import orjson
from attrs import evolve, frozen

from bench.contenders.common import (
    Figures,
    Options,
    Tracker,
    calibrate_and_measure,
    emit_result,
    parse_options,
    percentile,
)
from runtime import Engine
from runtime.ops.hooks import BaseObserver
from runtime.types import (
    JSON,
    Command,
    CompiledWorkflow,
    Listen,
    Node,
    Process,
    Sequence_,
    Sleep,
    Status,
    TopicSpec,
)


@frozen
class Order:
    order_id: str
    amount_cents: int
    paid: bool = False
    shipped: bool = False


@frozen
class Request:
    order_id: str
    amount_cents: int


@frozen
class Reply:
    order_id: str
    ok: bool


def _requests(name: str) -> TopicSpec[Request]:
    return TopicSpec(
        name,
        key=lambda m: m.order_id,
        encode=lambda m: orjson.dumps({"order_id": m.order_id, "amount_cents": m.amount_cents}),
        decode=lambda b: Request(**orjson.loads(b)),
    )


def _replies(name: str) -> TopicSpec[Reply]:
    return TopicSpec(
        name,
        key=lambda m: m.order_id,
        encode=lambda m: orjson.dumps({"order_id": m.order_id, "ok": m.ok}),
        decode=lambda b: Reply(**orjson.loads(b)),
    )


PAYMENT_COMMAND = _requests("PAYMENT_COMMAND")
PAYMENT_LISTENER = _replies("PAYMENT_LISTENER")
SHIPPING_COMMAND = _requests("SHIPPING_COMMAND")
SHIPPING_LISTENER = _replies("SHIPPING_LISTENER")


def _encode(o: Order) -> JSON:
    return {
        "order_id": o.order_id,
        "amount_cents": o.amount_cents,
        "paid": o.paid,
        "shipped": o.shipped,
    }


def _decode(j: JSON) -> Order:
    assert isinstance(j, dict)
    return Order(
        str(j["order_id"]), int(str(j["amount_cents"])), j["paid"] is True, j["shipped"] is True
    )


def _request(o: Order) -> Request:
    return Request(o.order_id, o.amount_cents)


def _paid(o: Order, m: Reply) -> Order:
    return evolve(o, paid=m.ok)


def _shipped(o: Order, m: Reply) -> Order:
    return evolve(o, shipped=True)


def _process(
    pid: int,
    name: str,
    command: TopicSpec[Request],
    listener: TopicSpec[Reply],
    on: Callable[[Order, Reply], Order],
) -> list[Node[Order]]:
    return [
        Process(id=pid, name=name, parent=0, children=(pid + 1, pid + 2)),
        Command(id=pid + 1, name=f"{name}.command", parent=pid, topic=command, build=_request),
        Listen(
            id=pid + 2,
            name=f"{name}.listen",
            parent=pid,
            topic=listener,
            match=lambda o: o.order_id,
            on=on,
        ),
    ]


BenchWorkflow: CompiledWorkflow[Order] = CompiledWorkflow(
    name="BenchWorkflow",
    version="bench-1",
    source="bench/embedded.py:BenchWorkflow",
    state_type=Order,
    key=lambda o: o.order_id,
    encode_state=_encode,
    decode_state=_decode,
    nodes=(
        Sequence_(id=0, name="BenchWorkflow", parent=-1, children=(1, 4)),
        *_process(1, "PAYMENT", PAYMENT_COMMAND, PAYMENT_LISTENER, _paid),
        *_process(4, "SHIPPING", SHIPPING_COMMAND, SHIPPING_LISTENER, _shipped),
    ),
    topics=(PAYMENT_COMMAND, PAYMENT_LISTENER, SHIPPING_COMMAND, SHIPPING_LISTENER),
)

NapWorkflow: CompiledWorkflow[Order] = CompiledWorkflow(
    name="NapWorkflow",
    version="bench-1",
    source="bench/embedded.py:NapWorkflow",
    state_type=Order,
    key=lambda o: o.order_id,
    encode_state=_encode,
    decode_state=_decode,
    nodes=(
        Sequence_(id=0, name="NapWorkflow", parent=-1, children=(1,)),
        Process(id=1, name="NAP", parent=0, children=(2,)),
        Sleep(
            id=2, name="NAP.sleep", parent=1, delay=lambda o: timedelta(milliseconds=o.amount_cents)
        ),
    ),
    topics=(),
)


NAPS = 40


class Completions(BaseObserver):
    def __init__(self) -> None:
        self.tracker = Tracker("idle", 0)

    def on_status(self, instance_id: str, workflow: str, status: Status) -> None:
        if status is Status.COMPLETED and workflow == BenchWorkflow.name:
            self.tracker.completed(instance_id.partition(":")[2])


class Bench:
    def __init__(self, engine: Engine, seen: Completions) -> None:
        self.engine = engine
        self.seen = seen
        self.naps: list[str] = []
        self.cpu_ms_per_wf = 0.0

    def services(self) -> None:
        engine = self.engine

        async def payment(m: Request) -> None:
            self.seen.tracker.payment_replied(m.order_id)
            await engine.send(
                PAYMENT_LISTENER, Reply(m.order_id, True), message_id=f"pay/{m.order_id}"
            )

        async def shipping(m: Request) -> None:
            self.seen.tracker.shipping_requested(m.order_id)
            await engine.send(
                SHIPPING_LISTENER, Reply(m.order_id, True), message_id=f"ship/{m.order_id}"
            )

        engine.subscribe(PAYMENT_COMMAND, payment)
        engine.subscribe(SHIPPING_COMMAND, shipping)

    async def burst(self, phase: str, n: int) -> Figures:
        tracker = self.seen.tracker = Tracker(phase, n)
        cpu = time.process_time()
        tracker.start_clock()
        if phase == "run":
            await self._naps(phase)
        await asyncio.gather(
            *(self.engine.start(BenchWorkflow, Order(o, 1250)) for o in tracker.order_ids())
        )
        await tracker.wait(300)
        self.cpu_ms_per_wf = (time.process_time() - cpu) * 1000 / n
        return tracker.figures()

    async def _naps(self, phase: str) -> None:
        """Runs that sleep 100, 150, 200 ... ms, started just before the measured burst (later
        starts would queue behind it), so their timers come due while it goes on."""
        for i in range(NAPS):
            run = await self.engine.start(NapWorkflow, Order(f"{phase}-nap-{i}", 100 + 50 * i))
            self.naps.append(run.id)

    async def timer_lag_ms(self) -> list[float]:
        lags = []
        for iid in self.naps:
            status = await self.engine.status(iid)
            if status is None or status.status is not Status.COMPLETED:
                continue
            nap, delay = status.nodes[2], status.state.amount_cents / 1000
            if nap.started_at is not None and nap.ended_at is not None:
                lags.append((nap.ended_at - nap.started_at - delay) * 1000)
        return lags


async def measure(options: Options, two_files: bool) -> tuple[Figures, list[float], Path, float]:
    db = options.workdir / "embedded.db"
    for leftover in db.parent.glob("embedded*.db*"):
        leftover.unlink()
    seen = Completions()
    state = f"sqlite:///{db.with_name('embedded-state.db')}" if two_files else None
    workflows = [BenchWorkflow, NapWorkflow]
    async with Engine(f"sqlite:///{db}", state, workflows, observer=seen) as engine:
        bench = Bench(engine, seen)
        bench.services()
        serving = asyncio.create_task(engine.run())
        try:
            figures, _probe = await calibrate_and_measure(
                bench.burst, options, warmup_n=200, floor=1000, ceiling=200_000
            )
            while True:
                lags = await bench.timer_lag_ms()
                if len(lags) == len(bench.naps):
                    break
                await asyncio.sleep(0.05)
        finally:
            engine.shutdown()
            await serving
    return figures, lags, db, bench.cpu_ms_per_wf


def main() -> None:
    argv = sys.argv[1:]
    two_files = "--two-files" in argv  # the log and the state apart: a commit per write
    options = parse_options(__doc__ or "", [a for a in argv if a != "--two-files"])
    figures, lags, db, cpu_ms = asyncio.run(measure(options, two_files))
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {**figures.as_json(), "rss_mb": round(rss_mb, 1)}
    result["timer_lag_p50_ms"] = round(percentile(lags, 50), 2)
    result["timer_lag_p99_ms"] = round(percentile(lags, 99), 2)
    emit_result(result)
    sys.stderr.write(
        f"embedded (sqlite:///{db}{' + a state file' if two_files else ''}): {figures.n} orders in {figures.seconds:.2f} s = "
        f"{figures.wf_per_s:,.0f} workflows/s; step latency p50 {figures.p50_ms:.1f} ms, "
        f"p99 {figures.p99_ms:.1f} ms; timer lag p50 {percentile(lags, 50):.1f} ms, "
        f"p99 {percentile(lags, 99):.1f} ms (n={len(lags)}); CPU {cpu_ms:.2f} ms per workflow; "
        f"max RSS {rss_mb:.0f} MB\n"
    )


if __name__ == "__main__":
    main()
