"""dagger over Kafka with one, then two `daggerc worker` processes, in one run on one broker.

    .venv/bin/python -m bench.kafka_workers [--bootstrap 127.0.0.1:9092] [--n 6000]
        [--workers 1,2] [--store sqlite|aerospike]

Orders2 (bench.kafka's workload). Per worker count, `daggerc worker --app bench.generated`
processes join one consumer group and share one store: a fresh SQLite file, or with `--store
aerospike` aerospike://$DAGGER_AEROSPIKE_HOSTS/test under a prefix of the run's own. This process
is the driver: it starts the N orders at once as a client does (same store), plays the services
through `engine.subscribe` on an engine that runs no workflow, and polls the store for completions.

Figures as in `bench.contenders.common`: workflows/s = N / (latest stored `updated_at` of a
completed run - just before the first start); step latency p50/p99 from the payment reply leaving
the service to the SHIPPING command reaching it; CPU per workflow of the driver and of all workers.
A warm-up burst runs first. The driver and the broker share the machine's cores with the workers.

Needs `daggerc build bench/workloads --out bench/generated` once (what `make bench` runs).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from attrs import frozen

from bench.contenders import dagger_side
from bench.contenders.common import Figures, Tracker
from bench.contenders.dagger_side import Completions
from bench.contenders.embedded import fresh_database
from bench.contenders.kafka_example import at_end
from bench.contenders.topics import reset_topics
from bench.workloads.orders2 import Order, OrderId
from runtime import Engine, Status
from runtime.engine_registry import HANDOFF_TOPIC

ROOT = Path(__file__).resolve().parents[1]
WORKER_GROUP = "dagger.engine"  # what `daggerc worker` joins
WARMUP_N = 300
POLL_S = 0.5
STALL_S = 30.0
STOP_TIMEOUT_S = 30.0
JOIN_TIMEOUT_S = 60.0
WIDTHS = (7, 6, 7, 4, 7, 8, 17, 7)  # the report's columns


@frozen
class Options:
    bootstrap: str
    n: int
    counts: tuple[int, ...]
    store: str  # "sqlite" or "aerospike"
    workdir: Path


@frozen
class Result:
    workers: int
    figures: Figures
    driver_cpu_s: float  # CPU time of this process (starts, services, polling) in the burst
    workers_cpu_s: float  # CPU time of all worker processes together in the burst


# --------------------------------------------------------------------------- worker processes


@contextlib.contextmanager
def worker_processes(count: int, options: Options, store: str) -> Iterator[list[int]]:
    """`count` `daggerc worker` processes; SIGTERM (then SIGKILL) at the end of the block."""
    daggerc = str(Path(sys.executable).parent / "daggerc")
    argv = [daggerc, "worker", "--app", "bench.generated", "--broker"]
    argv += [f"kafka://{options.bootstrap}", "--store", store, "--log-level", "WARNING"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started: list[subprocess.Popen[bytes]] = []
    try:
        for i in range(count):
            with open(options.workdir / f"worker{count}-{i}.err", "wb") as err:
                started.append(subprocess.Popen(argv, cwd=ROOT, env=env, stderr=err))
        yield [p.pid for p in started]
    finally:
        for p in started:
            p.send_signal(signal.SIGTERM)
        for p in started:
            try:
                p.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


async def joined(bootstrap: str, count: int) -> None:
    """Wait until the workers' group is stable with `count` members, so no rebalance falls into
    the measured burst."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    deadline = time.monotonic() + JOIN_TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            described = await admin.describe_consumer_groups([WORKER_GROUP])
            group = described[0].groups[0]  # (error, name, state, protocol type, protocol, members)
            if group[2] == "Stable" and len(group[5]) == count:
                return
            await asyncio.sleep(POLL_S)
    finally:
        await admin.close()
    raise TimeoutError(f"{count} worker(s) did not join group {WORKER_GROUP} in {JOIN_TIMEOUT_S} s")


def store_url(options: Options, run: str, count: int) -> str:
    if options.store == "aerospike":
        host = os.environ["DAGGER_AEROSPIKE_HOSTS"].split(",")[0]
        return f"aerospike://{host}/test?prefix=bw{run}{count}_"
    return f"sqlite:///{fresh_database(options.workdir, f'workers-{count}.db')}"


# --------------------------------------------------------------------------- the driver


@contextlib.asynccontextmanager
async def services(
    options: Options, compiled: dagger_side.Compiled, run: str
) -> AsyncIterator[dagger_side.Completions]:
    """Payment and shipping, answering through an engine that runs no workflow (its store is
    its own, in memory); the Completions' tracker takes their observations."""
    seen = dagger_side.Completions(compiled.orders.name)
    group = f"bench-workers-{run}.driver"
    engine = Engine(f"kafka://{options.bootstrap}", "memory://", group=group)
    await at_end(engine, group, [HANDOFF_TOPIC])
    async with engine:
        dagger_side.DaggerBench(engine, compiled, seen).subscribe_services(group_prefix=group)
        async with dagger_side.running(engine):
            yield seen


class Driver:
    """Starts bursts of Orders2 as a client does, and reads their completions from the store."""

    def __init__(self, client: Engine, compiled: dagger_side.Compiled, seen: Completions) -> None:
        self.client = client
        self.workflow = compiled.orders
        self.seen = seen

    async def burst(self, phase: str, n: int) -> Figures:
        tracker = self.seen.tracker = Tracker(phase, n)
        began = time.time()
        tracker.start_clock()
        orders = [Order(OrderId(o), 1250) for o in tracker.order_ids()]
        await asyncio.gather(*(self.client.start(self.workflow, o) for o in orders))
        done, last = await self.completions(phase, n)
        steps = tracker.figures()
        return Figures(n, done, max(last - began, 1e-9), steps.p50_ms, steps.p99_ms)

    async def completions(self, phase: str, n: int) -> tuple[int, float]:
        """Poll the store until the burst's N runs completed or none completed for STALL_S;
        returns how many did and the latest completion time (epoch seconds)."""
        seen, moved_at = -1, time.monotonic()
        while True:
            done, last = await self.completed(f"{self.workflow.name}:{phase}-")
            if done != seen:
                seen, moved_at = done, time.monotonic()
            if done >= n or time.monotonic() - moved_at > STALL_S:
                return done, last
            sys.stderr.write(f"{phase}: {done}/{n}\n")
            await asyncio.sleep(POLL_S)

    async def completed(self, prefix: str) -> tuple[int, float]:
        done, last, cursor = 0, 0.0, None
        while True:
            page = await self.client.list(
                workflow=self.workflow, status=Status.COMPLETED, limit=1000, cursor=cursor
            )
            for item in page.items:
                if item.id.startswith(prefix):
                    done, last = done + 1, max(last, item.updated_at)
            if page.next is None:
                return done, last
            cursor = page.next


async def with_workers(
    options: Options, compiled: dagger_side.Compiled, run: str, count: int
) -> Result:
    await reset_topics(options.bootstrap, compiled.topics)
    store = store_url(options, run, count)
    client = Engine(f"kafka://{options.bootstrap}", store, workflows=[compiled.orders])
    async with services(options, compiled, run) as seen, client:
        with worker_processes(count, options, store) as pids:
            await joined(options.bootstrap, count)
            driver = Driver(client, compiled, seen)
            await driver.burst(f"w{count}{run}.warmup", min(WARMUP_N, options.n))
            mine, theirs = time.process_time(), cpu_of(pids)
            figures = await driver.burst(f"w{count}{run}.run", options.n)
            mine, theirs = time.process_time() - mine, cpu_of(pids) - theirs
    return Result(count, figures, mine, theirs)


def cpu_of(pids: Sequence[int]) -> float:
    """User + system CPU seconds the processes used so far (Linux /proc)."""
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- report


def table(results: Sequence[Result], options: Options) -> str:
    rows = [f"Orders2 over Kafka at {options.bootstrap}, N={options.n}, store {options.store}"]
    heads = (
        "workers",
        "wf/s",
        "seconds",
        "lost",
        "p50 ms",
        "p99 ms",
        "CPU ms/wf: driver",
        "workers",
    )
    rows.append("  ".join(f"{h:>{w}}" for h, w in zip(heads, WIDTHS, strict=True)))
    for r in results:
        f, per = r.figures, max(r.figures.completed, 1)
        cells = [str(r.workers), f"{f.wf_per_s:,.0f}", f"{f.seconds:.2f}", str(f.n - f.completed)]
        cells += [f"{v:.1f}" for v in (f.p50_ms, f.p99_ms)]
        cells += [f"{cpu / per * 1000:.2f}" for cpu in (r.driver_cpu_s, r.workers_cpu_s)]
        rows.append("  ".join(f"{c:>{w}}" for c, w in zip(cells, WIDTHS, strict=True)))
    rate = {r.workers: r.figures.wf_per_s for r in results}
    if 1 in rate and 2 in rate:
        rows.append(f"ratio 2 workers / 1 worker: {rate[2] / max(rate[1], 1e-9):.2f}")
    return "\n".join(rows)


async def measure(options: Options) -> None:
    compiled = dagger_side.load_compiled()
    run = uuid.uuid4().hex[:6]
    results = [await with_workers(options, compiled, run, c) for c in options.counts]
    print(table(results, options), flush=True)


def parse(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:9092", help="Kafka host:port")
    parser.add_argument("--n", type=int, default=6000, help="orders per measured burst")
    parser.add_argument("--workers", default="1,2", help="worker counts, e.g. 1,2")
    parser.add_argument("--store", choices=("sqlite", "aerospike"), default="sqlite")
    parser.add_argument("--workdir", type=Path, default=None, help="SQLite files and worker logs")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error(f"--n must be at least 1 (got {args.n})")
    try:
        counts = tuple(int(c) for c in args.workers.split(","))
    except ValueError:
        parser.error(f"--workers takes counts like 1,2 (got {args.workers!r})")
    if not counts or min(counts) < 1:
        parser.error(f"--workers takes counts of at least 1 (got {args.workers!r})")
    if args.store == "aerospike" and not os.environ.get("DAGGER_AEROSPIKE_HOSTS"):
        parser.error("--store aerospike needs DAGGER_AEROSPIKE_HOSTS (e.g. 127.0.0.1:3000)")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="dagger-kafka-workers-"))
    workdir.mkdir(parents=True, exist_ok=True)
    return Options(args.bootstrap, args.n, counts, args.store, workdir)


def main(argv: Sequence[str] | None = None) -> None:
    asyncio.run(measure(parse(argv)))


if __name__ == "__main__":
    main()
