"""How long `daggerc build` takes, and how much memory it needs, as workflows grow.

Synthetic workflows of 100, 500 and 1,000 tasks in one `>>` chain, and of 5,000 tasks made of
50 sub-flows of 100, each compiled with and without the mypy type check, each in a fresh
interpreter (the figure is the build itself: load, check, lower, render, format, type-check, write;
not the interpreter's start). The tasks rotate through call (lambda and named function), command
and listen, so every build lifts lambdas, wraps functions and emits codecs and topics. The type
check runs with mypy's cache of the dependencies warm, as on a developer's machine.

    .venv/bin/python -m bench.compile            # the table
    .venv/bin/python -m bench.compile --json     # one JSON object per measurement

Targets: 1,000 tasks in at most 1 s without the type check and 15 s with it; time per task flat.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Sequence
from pathlib import Path

from attrs import asdict, frozen

ROOT = Path(__file__).resolve().parent.parent
SIZES: tuple[tuple[int, str], ...] = (
    (100, "chain"),
    (500, "chain"),
    (1000, "chain"),
    (5000, "flows"),
)
PER_FLOW = 100
PER_PROCESS = 50

_HEADER = '''\
"""A synthetic workflow for bench/compile.py."""

from datetime import timedelta
from typing import NewType

from attrs import evolve, frozen

from dsl import call, command, listen, process, topic, workflow

Key = NewType("Key", str)


@frozen
class State:
    key: Key
    n: int = 0
    seen: int = 0


@frozen
class Ping:
    key: Key
    n: int


def step(s: State) -> State:
    return evolve(s, n=s.n + 1)


pings = topic("PINGS", Ping, key=lambda m: m.key)
pongs = topic("PONGS", Ping, key=lambda m: m.key)
'''

_TASKS = (
    "call(lambda s: evolve(s, n=s.n + {i}))",
    "call(step)",
    "command(pings, lambda s: Ping(s.key, s.n + {i}))",
    "listen(pongs, match=lambda s: s.key, on=lambda s, e: evolve(s, seen=e.n))",
)


def _tasks(count: int, prefix: str) -> list[str]:
    """`>> process(...)` every PER_PROCESS tasks, and the tasks, one line each."""
    lines = []
    for i in range(count):
        if i % PER_PROCESS == 0:
            lines.append(
                f'    >> process("{prefix}{i // PER_PROCESS}", timeout=timedelta(hours=1))'
            )
        lines.append("    >> " + _TASKS[i % len(_TASKS)].format(i=i))
    return lines


def chain_source(tasks: int) -> str:
    """One workflow whose tasks are one `>>` chain."""
    body = "\n".join(_tasks(tasks, "P"))
    return f'{_HEADER}\n\nSynthetic = (\n    workflow("Synthetic", State, key=lambda s: s.key)\n{body}\n)\n'


def flows_source(tasks: int) -> str:
    """One workflow made of sub-flows of PER_FLOW tasks, each a module-level chain."""
    parts = [_HEADER]
    names = []
    for index in range(tasks // PER_FLOW):
        name = f"flow_{index}"
        names.append(name)
        _, *rest = _tasks(PER_FLOW, f"F{index}_")
        head = f'    process("F{index}_0", timeout=timedelta(hours=1), state=State)'
        body = "\n".join([head, *rest])
        parts.append(f"\n{name} = (\n{body}\n)\n")
    chain = "\n".join(f"    >> {n}" for n in names)
    parts.append(
        f'\nSynthetic = (\n    workflow("Synthetic", State, key=lambda s: s.key)\n{chain}\n)\n'
    )
    return "\n".join(parts)


@frozen
class Measurement:
    tasks: int
    shape: str
    typecheck: bool
    seconds: float
    peak_mb: float
    nodes: int


_CHILD = textwrap.dedent(
    """
    import json, resource, sys, time
    from pathlib import Path
    from codegen.pipeline import compile_paths

    folder, typecheck = Path(sys.argv[1]), sys.argv[2] == "1"
    if typecheck:  # warm mypy's cache of the dependencies, as on a developer's machine
        warm = compile_paths([folder / "warmup.py"], None, True)
        assert warm.ok, warm.diagnostics
    started = time.perf_counter()
    result = compile_paths([folder / "synthetic.py"], folder / "out", typecheck)
    seconds = time.perf_counter() - started
    assert result.ok, [f"{d.code} {d.message}" for d in result.diagnostics[:5]]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    nodes = sum(len(m.ir.nodes) for m in result.modules if m.ir is not None)
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, "nodes": nodes}))
    """
)


def measure(tasks: int, shape: str, typecheck: bool) -> Measurement:
    """Build one synthetic workflow in a fresh interpreter; time and peak memory of the build."""
    source = chain_source(tasks) if shape == "chain" else flows_source(tasks)
    with tempfile.TemporaryDirectory(prefix="dagger-bench-compile-") as tmp:
        folder = Path(tmp)
        (folder / "synthetic.py").write_text(source, encoding="utf-8")
        (folder / "warmup.py").write_text(chain_source(4), encoding="utf-8")
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, str(folder), "1" if typecheck else "0"],
            cwd=folder,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
    if done.returncode != 0:
        raise RuntimeError(f"building {tasks} tasks failed:\n{done.stderr[-2000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return Measurement(
        tasks, shape, typecheck, figures["seconds"], figures["peak_mb"], figures["nodes"]
    )


def _table(rows: Sequence[Measurement]) -> str:
    lines = [
        f"{'tasks':>6} {'shape':<6} {'mypy':<4} {'seconds':>8} {'ms/task':>8} {'peak MB':>8}",
    ]
    for row in rows:
        per_task = row.seconds * 1000 / row.tasks
        mypy = "yes" if row.typecheck else "no"
        lines.append(
            f"{row.tasks:>6} {row.shape:<6} {mypy:<4} {row.seconds:>8.2f} {per_task:>8.2f} "
            f"{row.peak_mb:>8.0f}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Time `daggerc build` on synthetic workflows.")
    parser.add_argument("--json", action="store_true", help="one JSON object per measurement")
    parser.add_argument(
        "--sizes", type=int, nargs="*", help="only these task counts (default: 100 500 1000 5000)"
    )
    args = parser.parse_args(argv)
    rows = []
    for tasks, shape in SIZES:
        if args.sizes and tasks not in args.sizes:
            continue
        for typecheck in (False, True):
            row = measure(tasks, shape, typecheck)
            rows.append(row)
            if args.json:
                print(json.dumps(asdict(row)), flush=True)
            else:
                sys.stderr.write(
                    f"  {tasks} tasks ({shape}), mypy={typecheck}: {row.seconds:.2f} s\n"
                )
    if not args.json:
        print(_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
