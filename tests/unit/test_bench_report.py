"""The benchmark report renders a fixed input to fixed JSON and Markdown, and judges the targets."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from attrs import evolve

from bench.contenders.common import Tracker, percentile
from bench.monitor import ChildResult
from bench.report import (
    CompileTimes,
    Machine,
    Measured,
    NotMeasured,
    Report,
    TimerLag,
    targets,
    to_json,
    to_markdown,
)
from bench.run import outcome_of

MACHINE = Machine(
    cores=2, memory_gib=23.5, cpu="Test CPU", os="Linux-6.1", python="3.11.7", kafka="4.4.0"
)


def _report() -> Report:
    return Report(
        date="2026-01-02 03:04 UTC",
        command="make bench",
        machine=MACHINE,
        contenders=(
            ("embedded", Measured(40000, 21.5, 1860.47, 3.25, 9.5, 81.2)),
            ("kafka", Measured(120000, 20.0, 6000.0, 850.0, 1200.0, 95.0)),
            ("kafka_raw_echo", Measured(240000, 20.0, 12000.0, 5755.9, 8871.88, 60.4)),
            ("wf_dagger", NotMeasured("skipped", "DAGGER_AEROSPIKE_HOSTS is not set")),
        ),
        timer_lag=TimerLag(p50_ms=4.0, p99_ms=140.5, n=300),
        compile=NotMeasured("missing", "bench/compile.py is not there yet"),
    )


def test_json_has_every_key_with_the_measured_figures() -> None:
    document = to_json(_report())

    assert document["embedded"] == {
        "status": "ok",
        "n": 40000,
        "lost": 0,
        "seconds": 21.5,
        "wf_per_s": 1860.5,
        "p50_ms": 3.25,
        "p99_ms": 9.5,
        "rss_mb": 81.2,
    }
    assert document["wf_dagger"] == {
        "status": "skipped",
        "reason": "DAGGER_AEROSPIKE_HOSTS is not set",
        "n": None,
        "lost": None,
        "seconds": None,
        "wf_per_s": None,
        "p50_ms": None,
        "p99_ms": None,
        "rss_mb": None,
    }
    assert document["timer_lag_ms"] == {"p50": 4.0, "p99": 140.5, "n": 300}
    assert document["compile"] == {
        "status": "missing",
        "reason": "bench/compile.py is not there yet",
    }
    assert document["machine"] == {
        "cores": 2,
        "memory_gib": 23.5,
        "cpu": "Test CPU",
        "os": "Linux-6.1",
        "python": "3.11.7",
        "kafka": "4.4.0",
    }
    json.dumps(document)  # serialisable as it is


def test_targets_compare_ratios_and_bounds() -> None:
    judged = {t.name: (t.measured, t.met) for t in targets(_report())}

    assert judged == {
        "`kafka` / `kafka_raw_echo` throughput": (0.5, True),
        "`kafka` / `wf_dagger` throughput": (None, None),
        "`embedded` throughput": (1860.47, True),
        "`timer_lag_ms.p99`": (140.5, False),
    }


def test_a_target_below_its_goal_is_not_met() -> None:
    slow = evolve(
        _report(),
        contenders=(("embedded", Measured(1000, 20.0, 999.9, 1.0, 2.0, 50.0)),),
    )

    by_name = {t.name: t for t in targets(slow)}

    assert by_name["`embedded` throughput"].met is False
    assert by_name["`kafka` / `kafka_raw_echo` throughput"].why_missing == "kafka missing"


def test_json_targets_name_bound_and_verdict() -> None:
    listed = to_json(_report())["targets"]

    assert listed == [
        {
            "name": "kafka / kafka_raw_echo throughput",
            "measured": 0.5,
            "goal": 0.5,
            "unit": "x",
            "bound": "min",
            "met": True,
        },
        {
            "name": "kafka / wf_dagger throughput",
            "measured": None,
            "goal": 20.0,
            "unit": "x",
            "bound": "min",
            "met": None,
        },
        {
            "name": "embedded throughput",
            "measured": 1860.47,
            "goal": 1000.0,
            "unit": "workflows/s",
            "bound": "min",
            "met": True,
        },
        {
            "name": "timer_lag_ms.p99",
            "measured": 140.5,
            "goal": 100.0,
            "unit": "ms",
            "bound": "max",
            "met": False,
        },
    ]


def test_markdown_tables() -> None:
    text = to_markdown(_report())
    lines = text.splitlines()

    assert lines[0] == "# Benchmarks"
    assert "Measured on 2026-01-02 03:04 UTC with `make bench`." in lines
    assert (
        "Machine: 2 cores (Test CPU), 23.5 GiB memory, Linux-6.1, Python 3.11.7, "
        "Apache Kafka 4.4.0 (one KRaft node on 127.0.0.1)."
    ) in lines
    assert (
        "| `embedded` | dagger, `sqlite:///` (one durable file) | 40,000 | 21.5 | **1,860** "
        "| 3.2 | 9.5 | 81 |"
    ) in lines
    assert (
        "| `wf_dagger` | the seed engine: wf-dagger 0.2.6, faust-streaming, Aerospike "
        "| skipped: DAGGER_AEROSPIKE_HOSTS is not set |  |  |  |  |  |"
    ) in lines
    assert "| `kafka` / `kafka_raw_echo` throughput | 0.50x | ≥ 0.5x | yes |" in lines
    assert (
        "| `kafka` / `wf_dagger` throughput | n/a (wf_dagger skipped) | ≥ 20.0x | not measured |"
    ) in lines
    assert "| `embedded` throughput | 1,860.5 workflows/s | ≥ 1,000 workflows/s | yes |" in lines
    assert "| `timer_lag_ms.p99` | 140.5 ms | ≤ 100 ms | **no** |" in lines
    assert (
        "- Timer lag of `sleep(100 ms)` under the embedded load: p50 4.0 ms, p99 140.5 ms "
        "over 300 timers."
    ) in lines
    assert "- Compiler: missing (bench/compile.py is not there yet)." in lines


def test_markdown_shows_lost_workflows_beside_n() -> None:
    lossy = evolve(
        _report(),
        contenders=(("wf_dagger", Measured(2500, 24.0, 102.5, 900.0, 2500.0, 210.0, lost=40)),),
    )

    document, lines = to_json(lossy), to_markdown(lossy).splitlines()

    assert document["wf_dagger"] == {
        "status": "ok",
        "n": 2500,
        "lost": 40,
        "seconds": 24.0,
        "wf_per_s": 102.5,
        "p50_ms": 900.0,
        "p99_ms": 2500.0,
        "rss_mb": 210.0,
    }
    assert (
        "| `wf_dagger` | the seed engine: wf-dagger 0.2.6, faust-streaming, Aerospike "
        "| 2,500 (40 lost) | 24.0 | **102** | 900.0 | 2,500.0 | 210 |"
    ) in lines


def test_notes_follow_the_machine_line() -> None:
    noted = evolve(_report(), notes=("Load average (1 min): 0.50 at the start, 0.70 at the end.",))

    lines = to_markdown(noted).splitlines()
    machine = next(i for i, line in enumerate(lines) if line.startswith("Machine: "))

    assert lines[machine + 1 : machine + 4] == [
        "",
        "- Load average (1 min): 0.50 at the start, 0.70 at the end.",
        "",
    ]
    assert to_json(noted)["notes"] == ["Load average (1 min): 0.50 at the start, 0.70 at the end."]


def test_markdown_compile_times() -> None:
    timed = evolve(
        _report(), compile=CompileTimes(tasks=1000, no_typecheck_s=0.8, typecheck_s=6.25)
    )

    lines = to_markdown(timed).splitlines()

    assert "- Compiling 1,000 tasks: 0.80 s with `--no-typecheck`, 6.25 s with mypy." in lines


# --------------------------------------------------------------------------------- inputs


def _child(result: Mapping[str, object] | None, returncode: int | None = 0) -> ChildResult:
    return ChildResult(
        returncode=returncode,
        result=None if result is None else dict(result),
        skipped=None,
        peak_rss_mb=88.5,
        seconds=31.0,
        log=Path("/logs/kafka.log"),
    )


def test_a_child_result_becomes_figures_with_the_peak_rss_of_its_tree() -> None:
    said = {"n": 3000, "lost": 2, "seconds": 25.0, "wf_per_s": 119.9, "p50_ms": 5.0, "p99_ms": 9.0}

    assert outcome_of("kafka", _child(said)) == Measured(3000, 25.0, 119.9, 5.0, 9.0, 88.5, lost=2)
    assert outcome_of("timer_lag", _child({"p50_ms": 1.5, "p99_ms": 30.0, "n": 300})) == TimerLag(
        1.5, 30.0, 300
    )


def test_a_child_without_a_result_is_a_failure_that_names_its_log() -> None:
    assert outcome_of("kafka", _child(None, returncode=1)) == NotMeasured(
        "failed", "exited with status 1 and no result (log: /logs/kafka.log)"
    )
    assert outcome_of("kafka", _child(None, returncode=None)) == NotMeasured(
        "failed", "timed out after 31 s (log: /logs/kafka.log)"
    )


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(100, 0, -1)]

    assert (percentile(values, 50), percentile(values, 99), percentile(values, 100)) == (
        50.0,
        99.0,
        100.0,
    )
    assert percentile([], 99) == 0.0


async def test_a_stalled_burst_ends_with_the_missing_workflows_counted_lost() -> None:
    tracker = Tracker("run", 3)
    tracker.completed("run-0000000")
    tracker.completed("run-0000001")
    tracker.completed("run-0000001")  # a redelivery counts once
    tracker.completed("probe-0000002")  # another burst's workflow is not this one's

    await tracker.wait(timeout=10.0, stall_s=0.2)
    figures = tracker.figures()

    assert (figures.n, figures.completed) == (3, 2)
    assert figures.as_json()["lost"] == 1
