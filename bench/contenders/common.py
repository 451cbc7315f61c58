"""What every contender shares: options, the measurement of one burst, and the line protocol.

The workload: N orders are started at once; each runs PAYMENT (a command, then a listener
correlated by order id) and then SHIPPING (the same), while a simulated service answers every
command on the matching listener topic.

Figures, the same for every contender:
- throughput: N / (time of the last completion - time just before the first start);
- step latency: measured at the simulated service, from the moment it publishes an order's PAYMENT
  reply to the moment the SHIPPING command of that order reaches it. That is one reaction of the
  engine (consume the reply, correlate it, move the workflow on, persist, publish the next command)
  plus both broker hops. Under a burst it is dominated by queueing.

Protocol: a contender prints one JSON object per line on stdout, `{"progress": {...}}` while it runs
and `{"result": {...}}` or `{"skipped": "reason"}` once at the end. This module needs only the
standard library and attrs, so the seed engine's own virtualenv can import it too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from attrs import frozen

PROGRESS_EVERY_S = 0.2
PROBE_S = 3.0  # length of the burst that sizes N
MARGIN = 1.5  # a long burst runs slower than the probe, and other work on the machine varies
STALL_S = 20.0  # no completion for this long: the rest of the burst is lost


@frozen
class Options:
    """Command-line options every contender takes."""

    n: int | None  # a fixed N, or None to calibrate
    seconds: float  # the measured run's target duration
    bootstrap: str  # Kafka bootstrap "host:port" (unused by the embedded contenders)
    workdir: Path  # scratch space for databases and logs


def parse_options(description: str, argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--n", type=int, default=None, help="orders per burst (default: calibrate)")
    parser.add_argument("--seconds", type=float, default=20.0, help="target duration of the run")
    parser.add_argument("--bootstrap", default="127.0.0.1:9092", help="Kafka bootstrap host:port")
    parser.add_argument("--workdir", type=Path, required=True, help="scratch directory")
    args = parser.parse_args(argv)
    if args.n is not None and args.n < 1:
        parser.error(f"--n must be at least 1 (got {args.n})")
    args.workdir.mkdir(parents=True, exist_ok=True)
    return Options(n=args.n, seconds=args.seconds, bootstrap=args.bootstrap, workdir=args.workdir)


# --------------------------------------------------------------------------------- line protocol


def _emit(payload: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(payload, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def emit_result(result: dict[str, object]) -> None:
    _emit({"result": result})


def emit_skipped(reason: str) -> None:
    _emit({"skipped": reason})


class Progress:
    """Rate-limited progress lines: at most one per PROGRESS_EVERY_S, and always the last one."""

    def __init__(self, phase: str, total: int) -> None:
        self.phase = phase
        self.total = total
        self._last = 0.0

    def update(self, done: int) -> None:
        now = time.monotonic()
        if done < self.total and now - self._last < PROGRESS_EVERY_S:
            return
        self._last = now
        _emit({"progress": {"phase": self.phase, "done": done, "total": self.total}})


# --------------------------------------------------------------------------------- measurement


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of `values`; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@frozen
class Figures:
    """One measured burst. `completed` < `n` when some workflows never finished (lost)."""

    n: int
    completed: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def wf_per_s(self) -> float:
        return self.completed / self.seconds if self.seconds > 0 else 0.0

    def as_json(self) -> dict[str, object]:
        return {
            "n": self.n,
            "lost": self.n - self.completed,
            "seconds": round(self.seconds, 3),
            "wf_per_s": round(self.wf_per_s, 1),
            "p50_ms": round(self.p50_ms, 2),
            "p99_ms": round(self.p99_ms, 2),
        }


def order_id(phase: str, i: int) -> str:
    return f"{phase}-{i:07d}"


class Tracker:
    """Observes one burst of `total` workflows: starts, step latencies and completions.

    Deliveries are at least once, so every observation is idempotent per order.
    """

    def __init__(self, phase: str, total: int) -> None:
        self.phase = phase
        self.total = total
        self.progress = Progress(phase, total)
        self.started_at = time.perf_counter()
        self.last_completion_at: float | None = None
        self._replied: dict[str, float] = {}
        self._steps: dict[str, float] = {}
        self._completed: set[str] = set()
        self.all_done = asyncio.Event()

    def order_ids(self) -> list[str]:
        return [order_id(self.phase, i) for i in range(self.total)]

    def start_clock(self) -> None:
        self.started_at = time.perf_counter()

    def payment_replied(self, order: str) -> None:
        self._replied.setdefault(order, time.perf_counter())

    def shipping_requested(self, order: str) -> None:
        replied = self._replied.get(order)
        if replied is not None and order not in self._steps:
            self._steps[order] = time.perf_counter() - replied

    def completed(self, order: str) -> None:
        if order in self._completed or not order.startswith(self.phase + "-"):
            return
        self._completed.add(order)
        self.last_completion_at = time.perf_counter()
        self.progress.update(len(self._completed))
        if len(self._completed) == self.total:
            self.all_done.set()

    @property
    def done(self) -> int:
        return len(self._completed)

    def missing(self) -> list[str]:
        """The orders of this burst that did not complete (yet), in order."""
        return [o for o in self.order_ids() if o not in self._completed]

    def stage(self, order: str) -> str:
        """How far an order got, as the simulated services saw it."""
        if order in self._steps:
            return "shipping requested"
        return "payment replied" if order in self._replied else "no payment request seen"

    async def wait(self, timeout: float, stall_s: float = STALL_S) -> None:
        """Wait until every workflow completed, or none completed for `stall_s` (the rest are
        counted as lost), or `timeout`. A TimeoutError when none completed at all."""
        deadline = time.perf_counter() + timeout
        seen, moved_at = self.done, time.perf_counter()
        while not self.all_done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.all_done.wait(), min(1.0, stall_s / 2))
            now = time.perf_counter()
            if self.done != seen:
                seen, moved_at = self.done, now
            elif now - moved_at > stall_s or now > deadline:
                break
        if self.done == 0:
            raise TimeoutError(f"{self.phase}: none of {self.total} workflows completed")

    def figures(self) -> Figures:
        end = self.last_completion_at or time.perf_counter()
        steps = list(self._steps.values())
        return Figures(
            n=self.total,
            completed=self.done,
            seconds=end - self.started_at,
            p50_ms=percentile(steps, 50) * 1000,
            p99_ms=percentile(steps, 99) * 1000,
        )


def calibrated_n(figures: Figures, target_s: float, floor: int, ceiling: int) -> int:
    """N for a run of about `target_s` (with a margin) at the rate `figures` showed."""
    wanted = math.ceil(figures.wf_per_s * target_s * MARGIN)
    return max(floor, min(ceiling, wanted))


Burst = Callable[[str, int], Awaitable[Figures]]
"""Runs one burst: (phase name, N) -> figures."""


async def calibrate_and_measure(
    burst: Burst,
    options: Options,
    *,
    warmup_n: int,
    floor: int,
    ceiling: int,
    probe_s: float = PROBE_S,
) -> tuple[Figures, Figures | None]:
    """A warm-up burst, a probe burst of about `probe_s` to size N (unless N is given), then the
    measured burst of N orders, at least `floor`. Returns the measured figures and the probe's."""
    warm = await burst("warmup", warmup_n)
    if options.n is not None:
        return await burst("run", options.n), None
    probe = await burst("probe", calibrated_n(warm, probe_s, warmup_n, ceiling))
    return await burst("run", calibrated_n(probe, options.seconds, floor, ceiling)), probe
