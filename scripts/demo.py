"""`make demo`: 1,000 order workflows of examples/orders.py on the embedded SQLite default.

Simulated payment and fulfilment services answer the workflow's commands through
`engine.subscribe`; one order in 50 has its payment declined, so the refund branch runs too. The
orders were placed an hour ago and stock is reserved by the workflow itself, so the poll and the
`until` timers fire at once and the demo takes seconds. Ends with a summary table.

    .venv/bin/python scripts/demo.py [--orders 1000] [--db build/demo.db]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `generated` and `runtime` from this checkout

from examples.orders import (  # noqa: E402 (after the path set-up above)
    BoxId,
    BoxPacked,
    Charge,
    Fulfil,
    Order,
    OrderId,
    PaymentResult,
)
from generated.orders import (  # noqa: E402
    FULFILLMENT_COMMAND,
    FULFILLMENT_LISTENER,
    PAYMENT_COMMAND,
    PAYMENT_LISTENER,
    OrderWorkflow,
)
from runtime import Engine, Status  # noqa: E402
from runtime.ops.hooks import BaseObserver  # noqa: E402

DECLINE_EVERY = 50


class Progress(BaseObserver):
    """Counts finished runs and draws a bar on stderr (at most ten times a second)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.finished: dict[Status, int] = {}
        self.done = asyncio.Event()
        self.last_at = 0.0
        self._drawn = 0.0

    def on_status(self, instance_id: str, workflow: str, status: Status) -> None:
        if not status.finished:
            return
        self.finished[status] = self.finished.get(status, 0) + 1
        self.last_at = time.perf_counter()
        count = sum(self.finished.values())
        if count >= self.total:
            self.done.set()
        if count >= self.total or self.last_at - self._drawn > 0.1:
            self._drawn = self.last_at
            self.draw(count)

    def draw(self, count: int) -> None:
        width = 40
        filled = width * count // self.total
        sys.stderr.write(
            f"\r  [{'#' * filled}{'.' * (width - filled)}] {count}/{self.total} orders"
        )
        if count >= self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def services(engine: Engine, replied: dict[str, float]) -> None:
    """The payment and fulfilment sides: answer every command, with a stable reply id."""

    async def payment(m: Charge) -> None:
        ok = int(m.order_id.rsplit("-", 1)[-1]) % DECLINE_EVERY != 0
        reply = PaymentResult(m.order_id, ok, BoxId(f"box-{m.order_id}"))
        replied.setdefault(f"pay/{m.order_id}", time.time())
        await engine.send(PAYMENT_LISTENER, reply, message_id=f"pay/{m.order_id}")

    async def fulfilment(m: Fulfil) -> None:
        replied.setdefault(f"box/{m.order_id}", time.time())
        await engine.send(
            FULFILLMENT_LISTENER, BoxPacked(m.box_id, "ups"), message_id=f"box/{m.box_id}"
        )

    engine.subscribe(PAYMENT_COMMAND, payment)
    engine.subscribe(FULFILLMENT_COMMAND, fulfilment)


def order(i: int, placed_at: float) -> Order:
    return Order(OrderId(f"order-{i:05d}"), 1000 + i, f"customer-{i % 97}", placed_at=placed_at)


async def step_latencies(engine: Engine, ids: list[str], replied: dict[str, float]) -> list[float]:
    """For each reply: from its publication to the listener step that consumed it."""
    out: list[float] = []
    for iid in ids:
        status = await engine.status(iid)
        if status is None:
            continue
        oid = status.state.order_id
        for node in status.nodes:
            key = _reply_key(node.name, oid)
            sent = replied.get(key) if key else None
            if sent is not None and node.kind == "listen" and node.ended_at is not None:
                out.append(max(0.0, node.ended_at - sent))
    return out


def _reply_key(node: str, oid: str) -> str | None:
    if "PAYMENT_LISTENER" in node:
        return f"pay/{oid}"
    if "FULFILLMENT_LISTENER" in node:
        return f"box/{oid}"
    return None


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered)) - 1))]


async def demo(n: int, db: Path) -> int:
    for leftover in db.parent.glob(db.name + "*"):
        leftover.unlink()
    progress = Progress(n)
    replied: dict[str, float] = {}
    async with Engine(f"sqlite:///{db}", workflows=[OrderWorkflow], observer=progress) as engine:
        services(engine, replied)
        serving = asyncio.create_task(engine.run())
        began = time.perf_counter()
        placed_at = time.time() - 3600
        runs = await asyncio.gather(
            *(engine.start(OrderWorkflow, order(i, placed_at)) for i in range(n))
        )
        await _wait(progress.done.wait(), serving)
        seconds = progress.last_at - began
        engine.shutdown()
        await serving
        latencies = await step_latencies(engine, [r.id for r in runs], replied)
    summary(progress, n, seconds, latencies, db)
    return 0 if sum(progress.finished.values()) == n else 1


async def _wait(done: Awaitable[Any], serving: asyncio.Task[None]) -> None:
    """Wait for every run, or surface the engine's error if it stopped."""
    waiting = asyncio.ensure_future(done)
    finished, _ = await asyncio.wait(
        [waiting, serving], timeout=600, return_when=asyncio.FIRST_COMPLETED
    )
    if serving in finished:
        waiting.cancel()
        serving.result()
        raise RuntimeError("the engine stopped before every order finished")
    if waiting not in finished:
        raise TimeoutError("the orders did not finish within 10 minutes")


def summary(progress: Progress, n: int, seconds: float, latencies: list[float], db: Path) -> None:
    completed = progress.finished.get(Status.COMPLETED, 0)
    failed = progress.finished.get(Status.FAILED, 0)
    ms: Callable[[float], str] = lambda q: f"{percentile(latencies, q) * 1000:.1f} ms"  # noqa: E731
    rows = [
        ("orders", f"{n:,}"),
        ("completed", f"{completed:,}"),
        (
            "failed",
            f"{failed:,}  (payment declined for 1 order in {DECLINE_EVERY}: the REFUND branch)",
        ),
        ("workflows/s", f"{n / seconds:,.0f}  ({seconds:.2f} s in all)"),
        ("step latency p50", f"{ms(50)}  (reply published -> listener step committed)"),
        ("step latency p99", ms(99)),
        ("database", str(db)),
    ]
    width = max(len(k) for k, _ in rows)
    sys.stdout.write("\n".join(f"  {k.ljust(width)}  {v}" for k, v in rows) + "\n")
    sys.stdout.write(
        f"\n  look at one:  .venv/bin/daggerc status OrderWorkflow:order-00007 --broker sqlite:///{db}\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description="Run order workflows on SQLite with simulated services."
    )
    parser.add_argument("--orders", type=int, default=1000, help="how many orders (default 1000)")
    parser.add_argument(
        "--db", type=Path, default=ROOT / "build" / "demo.db", help="the SQLite file"
    )
    args = parser.parse_args()
    if args.orders < 1:
        parser.error(f"--orders must be at least 1 (got {args.orders})")
    db: Path = args.db.resolve()
    db.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.write(
        f"running {args.orders:,} order workflows of examples/orders.py on sqlite:///{db}\n"
    )
    return asyncio.run(demo(args.orders, db))


if __name__ == "__main__":
    raise SystemExit(main())
