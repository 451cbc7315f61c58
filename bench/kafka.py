"""dagger over Kafka against the raw aiokafka limit, in one run on one broker.

    .venv/bin/python -m bench.kafka [--bootstrap 127.0.0.1:9092] [--n 3000] [--raw-n 30000]
        [--only raw,durable,outbox,typed,orders2,example] [--kafka-options '?linger_ms=2'] [--batch 256]
        [--max-steps 64] [--profile FILE] [--store aerospike://127.0.0.1:3000/test]

1. raw: `bench.contenders.kafka_raw_echo` (plain aiokafka, no engine): a command is produced, a
   service replies, a consumer reacts and produces the next command, a service replies, the
   consumer completes the order: two command/reply exchanges per order, nothing stored.
2. durable: the same, plus the least state a durable engine must keep
   (`bench.contenders.kafka_raw_durable`: one SQLite row per order, written with a
   compare-and-set before the messages that depend on it). It says how much of raw's throughput
   durability itself costs in one Python process; what dagger loses beyond it is the engine's.
3. outbox: durable, plus an outbox (`bench.contenders.kafka_raw_outbox`: each step's messages
   written in the row, cleared with a second compare-and-set once Kafka acknowledged them):
   dagger's promise for a step, written by hand for this one workflow. The floor of any engine
   that keeps that promise; what dagger spends beyond it is the cost of being a general engine.
4. typed: outbox, plus typing (`bench.contenders.kafka_raw_typed`): messages and state through
   the codecs daggerc generates for Orders2, the state an attrs class, a message id on each
   message. Still no machine, no node runs, no index.
5. dagger, the same pattern: the bench workflow Orders2 (bench/workloads/orders2.py: PAYMENT and
   SHIPPING, each a command and its listener) on an Engine over `kafka://` with a SQLite store,
   the services answering through `engine.subscribe` (bench.contenders.dagger_side). This is the
   figure held against raw: target at least half.
6. dagger, the order example (generated/orders.py): the same two exchanges plus every other step
   of OrderWorkflow (11 calls, a poll, two timers), each one a durable transition.

Each runs a warm-up burst, then N orders started at once (raw: `--raw-n`: at N it is over too
quickly to time). Figures as in `bench.contenders.common`: workflows/s = N / (last completion -
first start); step latency p50/p99 from the payment reply leaving the service to the next command
(SHIPPING, FULFILLMENT) reaching it, so a big burst queues; and the CPU time this process spent per
workflow, and the Kafka requests it sent per workflow (produce, fetch, offset commit). The engines
take `--kafka-options` (the `kafka://` URL's query), `--batch` (`Engine(batch_size=...)`) and
`--max-steps` (`Engine(max_steps=...)`; default: the engine's own sizing). `--profile FILE` runs
dagger's Orders2 burst under cProfile. `--store URL` gives dagger's sides another store than a
fresh SQLite file each (an `aerospike://` URL: the set-up for workers on many machines; each run
gets a set prefix of its own unless the URL names one).

Needs `daggerc build bench/workloads --out bench/generated` once (what `make bench` runs). The
order example's topics are shared with the tests: its engine and services join with consumer
groups of their own, positioned at the end of every topic, and its order ids carry a run id.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import pstats
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from pathlib import Path

from aiokafka.conn import AIOKafkaConnection
from attrs import frozen

from bench.contenders import dagger_side
from bench.contenders.common import Figures
from bench.contenders.embedded import fresh_database
from bench.contenders.kafka_example import Completions, ExampleBench, at_end
from bench.contenders.kafka_raw_durable import DurableEcho
from bench.contenders.kafka_raw_echo import Echo
from bench.contenders.kafka_raw_outbox import OutboxEcho
from bench.contenders.kafka_raw_typed import TypedOutboxEcho
from bench.contenders.topics import reset_topics
from generated.orders import OrderWorkflow
from runtime import Engine
from runtime.engine_registry import HANDOFF_TOPIC

WARMUP_N = 300
TARGET_RATIO = 0.5
SIDES = ("raw", "durable", "outbox", "typed", "orders2", "example")

Burst = Callable[[str, int], Awaitable[Figures]]


@frozen
class Options:
    bootstrap: str
    n: int
    raw_n: int
    workdir: Path
    profile: Path | None
    only: frozenset[str] = frozenset(SIDES)
    kafka_options: str = ""
    batch: int = 256
    max_steps: int | None = None
    store: str | None = None  # dagger's store URL; None: a fresh SQLite file per side

    def store_url(self, file: str, run: str) -> str:
        if self.store is None:
            return f"sqlite:///{fresh_database(self.workdir, file)}"
        if self.store.startswith("aerospike://") and "prefix=" not in self.store:
            joiner = "&" if "?" in self.store else "?"
            side = file.partition(".")[0].replace("-", "_")
            return f"{self.store}{joiner}prefix=bench{run}_{side}_"
        return self.store

    @property
    def store_name(self) -> str:
        if self.store is None:
            return "SQLite"
        return self.store.partition(":")[0].capitalize()


@frozen
class Measured:
    figures: Figures
    cpu_s: float  # CPU time of this process during the measured burst
    requests: Mapping[str, int]  # Kafka requests this process sent during it, by kind


async def measured(burst: Burst, run: str, n: int, profile: Path | None = None) -> Measured:
    """A warm-up burst, then the measured one (under cProfile when `profile` names a file)."""
    await burst(f"{run}.warmup", min(WARMUP_N, n))
    with profiled(profile), counting_requests() as requests:
        cpu = time.process_time()
        figures = await burst(f"{run}.run", n)
        cpu = time.process_time() - cpu
    return Measured(figures, cpu, dict(requests))


@contextlib.contextmanager
def counting_requests() -> Iterator[Counter[str]]:
    """Counts the requests this process sends to Kafka while the block runs, by kind
    (Produce, Fetch, OffsetCommit...): how well sends, fetches and commits are batched."""
    counts: Counter[str] = Counter()
    original = AIOKafkaConnection.send

    def send(conn: object, request: object, expect_response: bool = True) -> object:
        counts[type(request).__name__.partition("Request")[0]] += 1
        return original(conn, request, expect_response)

    AIOKafkaConnection.send = send
    try:
        yield counts
    finally:
        AIOKafkaConnection.send = original


# --------------------------------------------------------------------------- raw aiokafka


async def raw(options: Options, run: str) -> Measured:
    return await echoed(Echo(options.bootstrap, run), f"raw{run}", options.raw_n)


async def durable(options: Options, run: str) -> Measured:
    echo = DurableEcho(options.bootstrap, f"{run}d", options.workdir / "raw-durable.db")
    return await echoed(echo, f"durable{run}", options.raw_n)


async def outbox(options: Options, run: str) -> Measured:
    echo = OutboxEcho(options.bootstrap, f"{run}o", options.workdir / "raw-outbox.db")
    return await echoed(echo, f"outbox{run}", options.raw_n)


async def typed(options: Options, run: str) -> Measured:
    echo = TypedOutboxEcho(options.bootstrap, f"{run}t", options.workdir / "raw-typed.db")
    return await echoed(echo, f"typed{run}", options.raw_n)


async def echoed(echo: Echo, name: str, n: int) -> Measured:
    """A raw side's bursts, between starting its clients and closing them."""
    await echo.start()
    try:
        return await measured(echo.burst, name, n)
    finally:
        await echo.close()


# --------------------------------------------------------------------------- dagger, Orders2


async def dagger_same_pattern(options: Options, run: str) -> Measured:
    compiled = dagger_side.load_compiled()
    await reset_topics(options.bootstrap, compiled.topics)
    seen = dagger_side.Completions(compiled.orders.name)
    group = f"bench-kafka-{run}"
    engine = Engine(
        f"kafka://{options.bootstrap}{options.kafka_options}",
        options.store_url("kafka-orders2.db", run),
        batch_size=options.batch,
        max_steps=options.max_steps,
        workflows=[compiled.orders],
        observer=seen,
        group=group,
    )
    async with engine:
        bench = dagger_side.DaggerBench(engine, compiled, seen)
        bench.subscribe_services(group_prefix=group)
        async with dagger_side.running(engine):
            return await measured(bench.burst, f"orders2{run}", options.n, options.profile)


# --------------------------------------------------------------------------- dagger, example


async def dagger_example(options: Options, run: str) -> Measured:
    seen = Completions()
    group = f"bench.{run}.engine"
    engine = Engine(
        f"kafka://{options.bootstrap}{options.kafka_options}",
        options.store_url("kafka-example.db", run),
        batch_size=options.batch,
        max_steps=options.max_steps,
        workflows=[OrderWorkflow],
        group=group,
        observer=seen,
    )
    async with engine:
        await at_end(engine, group, [*engine.registry.listened, HANDOFF_TOPIC])
        bench = ExampleBench(engine, seen, run)
        await bench.services()
        async with dagger_side.running(engine):
            return await measured(bench.burst, f"example{run}", options.n)


@contextlib.contextmanager
def profiled(out: Path | None) -> Iterator[None]:
    if out is None:
        yield
        return
    profile = cProfile.Profile()
    profile.enable()
    try:
        yield
    finally:
        profile.disable()
        profile.dump_stats(out)
        text = io.StringIO()
        pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(25)
        sys.stderr.write(text.getvalue())


# --------------------------------------------------------------------------- report


def line(name: str, m: Measured) -> str:
    f = m.figures
    lost = f" ({f.n - f.completed} lost)" if f.completed < f.n else ""
    per = max(f.completed, 1)
    kinds = ("Produce", "Fetch", "OffsetCommit")
    requests = ", ".join(f"{k} {m.requests.get(k, 0) / per:.3f}" for k in kinds)
    return (
        f"{name:<40} {f.wf_per_s:>7,.0f} workflows/s ({f.completed:,} in {f.seconds:.2f} s{lost}, "
        f"{m.cpu_s / per * 1000:.2f} ms CPU each)  "
        f"step p50 {f.p50_ms:.1f} ms  p99 {f.p99_ms:.1f} ms  requests each: {requests}"
    )


def labels(store: str) -> dict[str, str]:
    return {
        "raw": "raw aiokafka (kafka_raw_echo)",
        "durable": "raw + least durable state (SQLite)",
        "outbox": "raw + state and outbox (SQLite)",
        "typed": "raw + typed messages, state, outbox",
        "orders2": f"dagger Orders2 (kafka://, {store} store)",
        "example": f"dagger OrderWorkflow (kafka://, {store})",
    }


async def measure(options: Options) -> None:
    run = uuid.uuid4().hex[:8]
    sides = {
        "raw": raw,
        "durable": durable,
        "outbox": outbox,
        "typed": typed,
        "orders2": dagger_same_pattern,
        "example": dagger_example,
    }
    results: dict[str, Measured] = {}
    print(f"Kafka at {options.bootstrap}; each side in this one process, one after another")
    for name in SIDES:
        if name in options.only:
            with contextlib.redirect_stdout(sys.stderr):  # the trackers' progress lines
                results[name] = await sides[name](options, run)
            print(line(labels(options.store_name)[name], results[name]), flush=True)
    if "raw" in results and "orders2" in results:
        ratio = results["orders2"].figures.wf_per_s / max(results["raw"].figures.wf_per_s, 1e-9)
        verdict = "met" if ratio >= TARGET_RATIO else "MISSED"
        print(f"dagger Orders2 / raw = {ratio:.2f} (target {TARGET_RATIO:.2f}: {verdict})")
    if "raw" in results and "durable" in results:
        floor = results["durable"].figures.wf_per_s / max(results["raw"].figures.wf_per_s, 1e-9)
        print(f"least durable state / raw = {floor:.2f} (what any engine on SQLite could keep)")
        if "orders2" in results:
            share = results["orders2"].figures.wf_per_s / results["durable"].figures.wf_per_s
            print(f"dagger Orders2 / least durable state = {share:.2f}")
    if "raw" in results and "outbox" in results:
        floor = results["outbox"].figures.wf_per_s / max(results["raw"].figures.wf_per_s, 1e-9)
        print(f"state and outbox / raw = {floor:.2f} (a hand-written engine with dagger's promise)")
    if "raw" in results and "typed" in results:
        floor = results["typed"].figures.wf_per_s / max(results["raw"].figures.wf_per_s, 1e-9)
        print(f"typed, state and outbox / raw = {floor:.2f} (the same, typed as dagger's messages)")


def parse(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092", help="Kafka host:port")
    parser.add_argument("--n", type=int, default=3000, help="orders per dagger burst")
    parser.add_argument("--raw-n", type=int, default=30000, help="orders per raw burst")
    parser.add_argument("--workdir", type=Path, default=None, help="where the SQLite files go")
    parser.add_argument(
        "--profile", type=Path, default=None, help="cProfile dagger's Orders2 burst"
    )
    parser.add_argument("--kafka-options", default="", help="e.g. ?linger_ms=2")
    parser.add_argument("--batch", type=int, default=256, help="engine batch_size")
    parser.add_argument(
        "--max-steps", type=int, default=None, help="engine max_steps (default: the engine's)"
    )
    parser.add_argument(
        "--only", default=",".join(SIDES), help=f"comma-separated subset of {','.join(SIDES)}"
    )
    parser.add_argument(
        "--store",
        default=None,
        help="dagger's store URL (default: a fresh SQLite file per side), e.g. an aerospike:// URL",
    )
    args = parser.parse_args(argv)
    for name in ("n", "raw_n"):
        if getattr(args, name) < 1:
            parser.error(
                f"--{name.replace('_', '-')} must be at least 1 (got {getattr(args, name)})"
            )
    if args.store is not None and not args.store.startswith(("aerospike://", "sqlite:///")):
        parser.error(f"--store takes an aerospike:// or sqlite:/// URL (got {args.store!r})")
    only = frozenset(s.strip() for s in args.only.split(",") if s.strip())
    if not only or only - set(SIDES):
        parser.error(f"--only takes names among {', '.join(SIDES)} (got {args.only!r})")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="dagger-kafka-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    return Options(
        args.bootstrap,
        args.n,
        args.raw_n,
        workdir,
        args.profile,
        only,
        args.kafka_options,
        args.batch,
        args.max_steps,
        args.store,
    )


def main(argv: Sequence[str] | None = None) -> None:
    asyncio.run(measure(parse(argv)))


if __name__ == "__main__":
    main()
