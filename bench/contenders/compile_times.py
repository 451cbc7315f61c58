"""How long `daggerc build` takes for a 1,000-task workflow, without and with the mypy check.

Uses bench/compile.py's `measure` (each build in a fresh interpreter); reports the key as missing
while that module is not in the tree.

    python -m bench.contenders.compile_times --workdir /tmp/x
"""

from __future__ import annotations

import importlib
from typing import Any

from bench.contenders.common import Progress, emit_result, parse_options

TASKS = 1000


def measure_compile(tasks: int = TASKS) -> dict[str, object]:
    try:
        compile_bench: Any = importlib.import_module("bench.compile")
    except ModuleNotFoundError as exc:
        if exc.name != "bench.compile":
            raise
        return {"missing": "bench/compile.py is not in the tree yet"}
    progress = Progress("compile", 2)
    progress.update(0)
    plain = compile_bench.measure(tasks, "chain", False)
    progress.update(1)
    checked = compile_bench.measure(tasks, "chain", True)
    progress.update(2)
    return {
        "tasks": tasks,
        "no_typecheck_s": round(float(plain.seconds), 3),
        "typecheck_s": round(float(checked.seconds), 3),
    }


if __name__ == "__main__":
    parse_options(__doc__ or "")
    emit_result(measure_compile())
