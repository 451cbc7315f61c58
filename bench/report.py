"""The benchmark report: its values, the targets it is judged by, and its JSON and Markdown forms.

Pure functions over frozen values, so a fixed input renders to a fixed text (tested in
tests/unit/test_bench_report.py).
"""

from __future__ import annotations

from typing import Literal, TypeAlias

from attrs import frozen

JSONValue: TypeAlias = "bool | int | float | str | list[JSONValue] | dict[str, JSONValue] | None"

THROUGHPUT_CONTENDERS = ("embedded", "kafka", "kafka_raw_echo", "kafka_aerospike", "wf_dagger")

DESCRIPTIONS = {
    "embedded": "dagger, `sqlite:///` (one durable file)",
    "kafka": "dagger over Kafka, SQLite store",
    "kafka_raw_echo": "plain aiokafka, no engine (the limit)",
    "kafka_aerospike": "dagger over Kafka, Aerospike store (workers on many machines)",
    "wf_dagger": "the seed engine: wf-dagger 0.2.6, faust-streaming, Aerospike",
}


@frozen
class Machine:
    cores: int
    memory_gib: float
    cpu: str
    os: str
    python: str
    kafka: str


@frozen
class Measured:
    """One contender's burst: N workflows started at once."""

    n: int
    seconds: float
    wf_per_s: float
    p50_ms: float
    p99_ms: float
    rss_mb: float
    lost: int = 0  # started but never completed


@frozen
class NotMeasured:
    status: Literal["skipped", "failed", "missing"]
    reason: str


@frozen
class TimerLag:
    """How late `sleep(100 ms)` timers fired under the embedded load."""

    p50_ms: float
    p99_ms: float
    n: int


@frozen
class CompileTimes:
    tasks: int
    no_typecheck_s: float
    typecheck_s: float


Outcome: TypeAlias = Measured | NotMeasured


@frozen
class Report:
    date: str
    command: str
    machine: Machine
    contenders: tuple[tuple[str, Outcome], ...]
    timer_lag: TimerLag | NotMeasured
    compile: CompileTimes | NotMeasured
    notes: tuple[str, ...] = ()  # conditions of the run worth knowing, e.g. the machine's load

    def outcome(self, name: str) -> Outcome:
        for key, outcome in self.contenders:
            if key == name:
                return outcome
        return NotMeasured("missing", f"{name} was not run")


# --------------------------------------------------------------------------------- targets


@frozen
class Target:
    name: str
    measured: float | None  # None: an input was not measured
    goal: float
    unit: str  # "x" for a ratio, else the unit of `measured`
    at_most: bool = False  # the goal is an upper bound
    why_missing: str = ""

    @property
    def met(self) -> bool | None:
        if self.measured is None:
            return None
        return self.measured <= self.goal if self.at_most else self.measured >= self.goal


def _rate(report: Report, name: str) -> tuple[float | None, str]:
    outcome = report.outcome(name)
    if isinstance(outcome, Measured):
        return outcome.wf_per_s, ""
    return None, f"{name} {outcome.status}"


def _ratio(report: Report, top: str, bottom: str, goal: float) -> Target:
    upper, why_upper = _rate(report, top)
    lower, why_lower = _rate(report, bottom)
    if upper is None or lower is None or lower == 0:
        why = why_upper or why_lower or f"{bottom} measured 0 workflows/s"
        return Target(f"`{top}` / `{bottom}` throughput", None, goal, "x", why_missing=why)
    return Target(f"`{top}` / `{bottom}` throughput", upper / lower, goal, "x")


def targets(report: Report) -> tuple[Target, ...]:
    embedded, why_embedded = _rate(report, "embedded")
    lag = report.timer_lag
    return (
        _ratio(report, "kafka", "kafka_raw_echo", 0.5),
        _ratio(report, "kafka", "wf_dagger", 20.0),
        Target("`embedded` throughput", embedded, 1000.0, "workflows/s", why_missing=why_embedded),
        Target(
            "`timer_lag_ms.p99`",
            lag.p99_ms if isinstance(lag, TimerLag) else None,
            100.0,
            "ms",
            at_most=True,
            why_missing="" if isinstance(lag, TimerLag) else f"timer_lag {lag.status}",
        ),
    )


# --------------------------------------------------------------------------------- JSON


_FIGURES = ("n", "lost", "seconds", "wf_per_s", "p50_ms", "p99_ms", "rss_mb")


def _outcome_json(outcome: Outcome) -> dict[str, JSONValue]:
    if isinstance(outcome, NotMeasured):
        empty: dict[str, JSONValue] = dict.fromkeys(_FIGURES)
        return {"status": outcome.status, "reason": outcome.reason, **empty}
    return {
        "status": "ok",
        "n": outcome.n,
        "lost": outcome.lost,
        "seconds": round(outcome.seconds, 3),
        "wf_per_s": round(outcome.wf_per_s, 1),
        "p50_ms": round(outcome.p50_ms, 2),
        "p99_ms": round(outcome.p99_ms, 2),
        "rss_mb": round(outcome.rss_mb, 1),
    }


def _timer_json(lag: TimerLag | NotMeasured) -> dict[str, JSONValue]:
    if isinstance(lag, NotMeasured):
        return {"status": lag.status, "reason": lag.reason}
    return {"p50": round(lag.p50_ms, 2), "p99": round(lag.p99_ms, 2), "n": lag.n}


def _compile_json(times: CompileTimes | NotMeasured) -> dict[str, JSONValue]:
    if isinstance(times, NotMeasured):
        return {"status": times.status, "reason": times.reason}
    return {
        "tasks": times.tasks,
        "no_typecheck_s": round(times.no_typecheck_s, 2),
        "typecheck_s": round(times.typecheck_s, 2),
    }


def _target_json(target: Target) -> dict[str, JSONValue]:
    measured = None if target.measured is None else round(target.measured, 2)
    return {
        "name": target.name.replace("`", ""),
        "measured": measured,
        "goal": target.goal,
        "unit": target.unit,
        "bound": "max" if target.at_most else "min",
        "met": target.met,
    }


def to_json(report: Report) -> dict[str, JSONValue]:
    machine = report.machine
    document: dict[str, JSONValue] = {
        "date": report.date,
        "command": report.command,
        "machine": {
            "cores": machine.cores,
            "memory_gib": machine.memory_gib,
            "cpu": machine.cpu,
            "os": machine.os,
            "python": machine.python,
            "kafka": machine.kafka,
        },
    }
    for name, outcome in report.contenders:
        document[name] = _outcome_json(outcome)
    document["timer_lag_ms"] = _timer_json(report.timer_lag)
    document["compile"] = _compile_json(report.compile)
    document["targets"] = [_target_json(t) for t in targets(report)]
    document["notes"] = list(report.notes)
    return document


# --------------------------------------------------------------------------------- Markdown


def _num(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _contender_row(name: str, outcome: Outcome) -> str:
    what = DESCRIPTIONS.get(name, "")
    if isinstance(outcome, NotMeasured):
        return _row([f"`{name}`", what, f"{outcome.status}: {outcome.reason}", "", "", "", "", ""])
    return _row(
        [
            f"`{name}`",
            what,
            _num(outcome.n) + (f" ({_num(outcome.lost)} lost)" if outcome.lost else ""),
            _num(outcome.seconds, 1),
            f"**{_num(outcome.wf_per_s)}**",
            _num(outcome.p50_ms, 1),
            _num(outcome.p99_ms, 1),
            _num(outcome.rss_mb),
        ]
    )


def _target_row(target: Target) -> str:
    bound = "≤" if target.at_most else "≥"
    if target.unit == "x":
        goal = f"{bound} {_num(target.goal, 1)}x"
    else:
        goal = f"{bound} {_num(target.goal)} {target.unit}"
    return _row([target.name, _measured(target), goal, _verdict(target.met)])


def _measured(target: Target) -> str:
    if target.measured is None:
        return f"n/a ({target.why_missing})"
    if target.unit == "x":
        return f"{_num(target.measured, 2)}x"
    return f"{_num(target.measured, 1)} {target.unit}"


def _verdict(met: bool | None) -> str:
    return {True: "yes", False: "**no**", None: "not measured"}[met]


def _timers_line(lag: TimerLag | NotMeasured) -> str:
    if isinstance(lag, NotMeasured):
        return f"- Timer lag: {lag.status} ({lag.reason})."
    return (
        f"- Timer lag of `sleep(100 ms)` under the embedded load: p50 {_num(lag.p50_ms, 1)} ms, "
        f"p99 {_num(lag.p99_ms, 1)} ms over {_num(lag.n)} timers."
    )


def _compile_line(times: CompileTimes | NotMeasured) -> str:
    if isinstance(times, NotMeasured):
        return f"- Compiler: {times.status} ({times.reason})."
    return (
        f"- Compiling {_num(times.tasks)} tasks: {_num(times.no_typecheck_s, 2)} s with "
        f"`--no-typecheck`, {_num(times.typecheck_s, 2)} s with mypy."
    )


_HEADER = [
    "| contender | what | N | time (s) | workflows/s | step p50 (ms) | step p99 (ms) | RSS (MB) |",
    "|---|---|---:|---:|---:|---:|---:|---:|",
]

DEFINITIONS = """\
## How it is measured

- **Workload**: N orders are started at once. Each runs PAYMENT (a command, then a listener
  correlated by order id) and then SHIPPING (the same); a simulated service in the same process
  answers every command on the matching listener topic. Every contender runs it in a process of
  its own, one after another, against the same broker.
- **N** is sized per contender so that its run lasts at least about 20 s: a warm-up burst, a
  probe burst of about 3 s (8 s for `wf_dagger`), then the measured burst of N, sized at 1.5x
  the probe's rate (with a floor per contender). All N starts are issued concurrently.
- **workflows/s** = completed workflows / (time of the last completion - time just before the
  first start). A workflow that never completes (no completion at all for 20 s) is counted as
  lost and shown beside N.
- **step latency** is measured at the simulated service: from publishing an order's PAYMENT
  reply to receiving that order's SHIPPING command, i.e. one reaction of the engine (consume,
  correlate, transition, persist, publish) plus two broker hops. With N started at once it is
  dominated by queueing behind the rest of the burst, so compare it between contenders, not
  with a single workflow's latency. An engine that serves runs in flight before new starts
  (dagger does) keeps it low even when its throughput is low.
- **RSS** is the peak of the summed resident memory of the contender's process tree, sampled
  every 0.25 s (the broker and Aerospike are outside it).
- **timer lag** is, for workflows that `sleep(100 ms)` while the embedded load runs in the same
  engine, the time the sleep step ended minus the time it started minus 100 ms.
- `kafka` runs the engine with its defaults (topics of 4 partitions, idempotent producer with
  acks=all, linger 0 ms, fetch wait 100 ms) and a SQLite store; `kafka_raw_echo` uses the same
  producer settings with linger 2 ms and a 5 ms fetch wait, and commits after each batch.
- `kafka_aerospike` is `kafka` with an Aerospike store (the server named by
  `DAGGER_AEROSPIKE_HOSTS`, on the same machine here), in sets of its own dropped afterwards.
- `wf_dagger` runs as its README configures it (Aerospike store, `enable_changelog=False`, raw
  serializer), on fresh topics of 4 partitions read from the earliest offset, including faust's
  default consumer fetch wait (1.5 s), which shapes its latency. It needs an Aerospike server
  (`DAGGER_AEROSPIKE_HOSTS=host:port`) and runs in a virtualenv of its own.
"""


def _notes(notes: tuple[str, ...]) -> list[str]:
    return ["", *(f"- {note}" for note in notes)] if notes else []


def to_markdown(report: Report) -> str:
    m = report.machine
    lines = [
        "# Benchmarks",
        "",
        f"Measured on {report.date} with `{report.command}`.",
        "",
        f"Machine: {m.cores} cores ({m.cpu}), {_num(m.memory_gib, 1)} GiB memory, {m.os}, "
        f"Python {m.python}, Apache Kafka {m.kafka} (one KRaft node on 127.0.0.1).",
        *_notes(report.notes),
        "",
        "## Throughput and latency",
        "",
        *_HEADER,
        *(_contender_row(name, outcome) for name, outcome in report.contenders),
        "",
        "## Targets",
        "",
        "| target | measured | goal | met |",
        "|---|---:|---:|---|",
        *(_target_row(t) for t in targets(report)),
        "",
        "## Timers and compiler",
        "",
        _timers_line(report.timer_lag),
        _compile_line(report.compile),
        "",
        DEFINITIONS,
    ]
    return "\n".join(lines)
