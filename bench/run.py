"""`make bench`: every contender on the same workload, one after another, each in its own process.

    python -m bench.run [--bootstrap 127.0.0.1:9192] [--seconds 20] [--only kafka,embedded]
                        [--n wf_dagger=3000] [--command "make bench"]

Writes bench/results/latest.json and bench/RESULTS.md and prints the Markdown report on stdout;
progress goes to stderr, each contender's log to ~/.cache/dagger/bench-logs/. Exit 1 when a
contender failed (the report is written all the same), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from attrs import frozen

from bench import machine, report
from bench.monitor import Bar, ChildResult, run_child
from bench.report import CompileTimes, Measured, NotMeasured, Outcome, Report, TimerLag
from bench.wf_dagger import venv

ROOT = Path(__file__).resolve().parent.parent
RESULTS_JSON = ROOT / "bench" / "results" / "latest.json"
RESULTS_MD = ROOT / "bench" / "RESULTS.md"
WORKLOADS, GENERATED = "bench/workloads", "bench/generated"


@frozen
class Context:
    bootstrap: str
    seconds: float
    fixed_n: dict[str, int]
    cache: Path

    @property
    def logs(self) -> Path:
        return self.cache / "bench-logs"

    def workdir(self, name: str) -> Path:
        return self.cache / "bench-work" / name


class Skip(Exception):
    """A contender cannot run here; `outcome` says why."""

    def __init__(self, outcome: NotMeasured) -> None:
        super().__init__(outcome.reason)
        self.outcome = outcome


# --------------------------------------------------------------------------------- preparation


def _project_python(ctx: Context) -> str:
    return sys.executable


@functools.cache
def _build_workloads() -> NotMeasured | None:
    """`daggerc build bench/workloads --out bench/generated`, once per bench run."""
    for needed in ("runtime/engine.py", "codegen/pipeline.py"):
        if not (ROOT / needed).exists():
            return NotMeasured("missing", f"{needed} is not in the tree yet")
    daggerc = Path(sys.executable).with_name("daggerc")
    done = subprocess.run(
        [str(daggerc), "build", WORKLOADS, "--out", GENERATED],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode == 0:
        return None
    said = (done.stderr or done.stdout).strip().splitlines()[-5:]
    return NotMeasured("failed", f"daggerc build {WORKLOADS} failed: {' / '.join(said)}")


def _compiled_python(ctx: Context) -> str:
    """The project's python, once the bench workloads are compiled."""
    problem = _build_workloads()
    if problem is not None:
        raise Skip(problem)
    return sys.executable


def _kafka_up(ctx: Context) -> None:
    host, _, port = ctx.bootstrap.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
    except OSError as exc:
        raise Skip(NotMeasured("failed", f"no Kafka broker at {ctx.bootstrap} ({exc})")) from exc


def _wf_dagger_python(ctx: Context) -> str:
    if not os.environ.get("DAGGER_AEROSPIKE_HOSTS"):
        reason = "DAGGER_AEROSPIKE_HOSTS is not set (its only working store is Aerospike)"
        raise Skip(NotMeasured("skipped", reason))
    _kafka_up(ctx)
    if not venv.is_current(venv.location(ctx.cache)):
        sys.stderr.write(
            f"wf_dagger: creating its virtualenv in {venv.location(ctx.cache)} (once)\n"
        )
    try:
        return str(venv.ensure(ctx.cache, ctx.logs / "wf_dagger-venv.log"))
    except venv.VenvError as exc:
        raise Skip(NotMeasured("failed", str(exc))) from exc


def _with_aerospike(python: Callable[[Context], str]) -> Callable[[Context], str]:
    def prepared(ctx: Context) -> str:
        if not os.environ.get("DAGGER_AEROSPIKE_HOSTS"):
            raise Skip(NotMeasured("skipped", "DAGGER_AEROSPIKE_HOSTS is not set"))
        return python(ctx)

    return prepared


def _with_kafka(python: Callable[[Context], str]) -> Callable[[Context], str]:
    def prepared(ctx: Context) -> str:
        _kafka_up(ctx)
        return python(ctx)

    return prepared


# --------------------------------------------------------------------------------- contenders


@frozen
class Spec:
    name: str
    module: str
    python: Callable[[Context], str]
    timeout_s: float = 240.0


SPECS = (
    Spec("embedded", "bench.contenders.embedded", _compiled_python),
    Spec("kafka", "bench.contenders.kafka", _with_kafka(_compiled_python)),
    Spec("kafka_raw_echo", "bench.contenders.kafka_raw_echo", _with_kafka(_project_python)),
    Spec(
        "kafka_aerospike",
        "bench.contenders.kafka_aerospike",
        _with_aerospike(_with_kafka(_compiled_python)),
    ),
    Spec("wf_dagger", "bench.wf_dagger.runner", _wf_dagger_python, timeout_s=360.0),
    Spec("timer_lag", "bench.contenders.timer_lag", _compiled_python),
    Spec("compile", "bench.contenders.compile_times", _project_python, timeout_s=420.0),
)


def _argv(spec: Spec, python: str, ctx: Context) -> list[str]:
    argv = [
        python,
        "-m",
        spec.module,
        "--bootstrap",
        ctx.bootstrap,
        "--workdir",
        str(ctx.workdir(spec.name)),
    ]
    argv += ["--seconds", str(ctx.seconds)]
    if spec.name in ctx.fixed_n:
        argv += ["--n", str(ctx.fixed_n[spec.name])]
    return argv


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def outcome_of(name: str, child: ChildResult) -> Outcome | TimerLag | CompileTimes:
    if child.skipped is not None:
        return NotMeasured("skipped", child.skipped)
    if child.result is None:
        return NotMeasured("failed", child.failure or "no result")
    r: dict[str, Any] = child.result
    if name == "timer_lag":
        return TimerLag(p50_ms=float(r["p50_ms"]), p99_ms=float(r["p99_ms"]), n=int(r["n"]))
    if name == "compile":
        if "missing" in r:
            return NotMeasured("missing", str(r["missing"]))
        return CompileTimes(int(r["tasks"]), float(r["no_typecheck_s"]), float(r["typecheck_s"]))
    return Measured(
        n=int(r["n"]),
        seconds=float(r["seconds"]),
        wf_per_s=float(r["wf_per_s"]),
        p50_ms=float(r["p50_ms"]),
        p99_ms=float(r["p99_ms"]),
        rss_mb=child.peak_rss_mb,
        lost=int(r.get("lost", 0)),
    )


def _summary(outcome: Outcome | TimerLag | CompileTimes, child: ChildResult | None) -> str:
    if isinstance(outcome, NotMeasured):
        return f"{outcome.status}: {outcome.reason}"
    if isinstance(outcome, Measured):
        return (
            f"{outcome.wf_per_s:,.0f} workflows/s (N={outcome.n:,}, {outcome.seconds:.1f} s), "
            f"step p50 {outcome.p50_ms:.1f} ms p99 {outcome.p99_ms:.1f} ms, RSS {outcome.rss_mb:.0f} MB"
        )
    if isinstance(outcome, TimerLag):
        return f"timer lag p50 {outcome.p50_ms:.1f} ms, p99 {outcome.p99_ms:.1f} ms ({outcome.n} timers)"
    return f"{outcome.no_typecheck_s:.2f} s without mypy, {outcome.typecheck_s:.2f} s with"


async def run_one(spec: Spec, ctx: Context) -> Outcome | TimerLag | CompileTimes:
    bar = Bar(spec.name)
    if not (ROOT / (spec.module.replace(".", "/") + ".py")).exists():
        outcome: Outcome | TimerLag | CompileTimes = NotMeasured(
            "missing", f"{spec.module} is not written yet"
        )
        bar.finish(_summary(outcome, None))
        return outcome
    try:
        python = await asyncio.to_thread(spec.python, ctx)
    except Skip as skip:
        bar.finish(_summary(skip.outcome, None))
        return skip.outcome
    child = await run_child(
        bar,
        _argv(spec, python, ctx),
        cwd=ROOT,
        env=_env(),
        log_path=ctx.logs / f"{spec.name}.log",
        timeout_s=spec.timeout_s,
    )
    outcome = outcome_of(spec.name, child)
    bar.finish(_summary(outcome, child))
    return outcome


# --------------------------------------------------------------------------------- report


def _not_run(name: str) -> NotMeasured:
    return NotMeasured("skipped", f"not selected (--only); {name} was not run")


def _pick(results: dict[str, Any], name: str, kind: type[Any]) -> Any:
    value = results.get(name, _not_run(name))
    if isinstance(value, (kind, NotMeasured)):
        return value
    return NotMeasured("failed", f"{name} reported {type(value).__name__}, not {kind.__name__}")


def load_note(start: float, end: float) -> str:
    return (
        f"1-minute load average: {start:.2f} when the bench started, {end:.2f} when it ended "
        f"({os.cpu_count()} cores); other work on the machine lowers every figure."
    )


def build_report(results: dict[str, Any], command: str, notes: tuple[str, ...] = ()) -> Report:
    return Report(
        date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        command=command,
        machine=machine.describe(ROOT),
        contenders=tuple(
            (name, _pick(results, name, Measured)) for name in report.THROUGHPUT_CONTENDERS
        ),
        timer_lag=_pick(results, "timer_lag", TimerLag),
        compile=_pick(results, "compile", CompileTimes),
        notes=notes,
    )


def write(result: Report) -> str:
    RESULTS_JSON.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_JSON.write_text(json.dumps(report.to_json(result), indent=2) + "\n", encoding="utf-8")
    markdown = report.to_markdown(result)
    RESULTS_MD.write_text(markdown, encoding="utf-8")
    return markdown


# --------------------------------------------------------------------------------- command line


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    names = [spec.name for spec in SPECS]
    port = os.environ.get("DAGGER_KAFKA_PORT", "9092")
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--bootstrap", default=f"127.0.0.1:{port}", help="Kafka host:port")
    parser.add_argument("--seconds", type=float, default=20.0, help="target length of each run")
    parser.add_argument(
        "--only", default=",".join(names), help=f"comma-separated subset of {names}"
    )
    parser.add_argument(
        "--n", action="append", default=[], metavar="NAME=N", help="fix N for one contender"
    )
    parser.add_argument("--command", default=None, help="the command to name in the report")
    args = parser.parse_args(argv)
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(args.only) - set(names))
    if unknown:
        parser.error(f"--only names unknown contenders {unknown}; known: {names}")
    args.fixed_n = {}
    for item in args.n:
        name, _, value = item.partition("=")
        if name not in names or not value.isdigit() or int(value) < 1:
            parser.error(f"--n expects NAME=N with NAME in {names} and N >= 1 (got {item!r})")
        args.fixed_n[name] = int(value)
    return args


async def run_all(ctx: Context, only: Sequence[str]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for spec in SPECS:
        if spec.name in only:
            results[spec.name] = await run_one(spec, ctx)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    command = args.command or "python -m bench.run " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    ctx = Context(
        bootstrap=args.bootstrap, seconds=args.seconds, fixed_n=args.fixed_n, cache=venv.cache_dir()
    )
    load_start = os.getloadavg()[0]
    try:
        results = asyncio.run(run_all(ctx, args.only))
    except KeyboardInterrupt:  # the running contender's process group is already ended
        sys.stderr.write("\nbench: interrupted; no report written\n")
        return 130
    notes = (load_note(load_start, os.getloadavg()[0]),)
    sys.stdout.write(write(build_report(results, command.strip(), notes)))
    sys.stdout.flush()
    failed = [
        name for name, r in results.items() if isinstance(r, NotMeasured) and r.status == "failed"
    ]
    if failed:
        sys.stderr.write(f"bench: {', '.join(failed)} failed; logs in {ctx.logs}\n")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
