"""What the benchmark ran on: cores, memory, CPU, OS, Python and the Kafka version."""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

from bench.report import Machine


def _first(path: str, pattern: str) -> str | None:
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    found = re.search(pattern, text, re.MULTILINE)
    return found.group(1).strip() if found else None


def kafka_version(root: Path) -> str:
    """The broker version scripts/kafka.sh runs: kafka/pom.xml's <kafka.version>."""
    return _first(str(root / "kafka" / "pom.xml"), r"<kafka\.version>([^<]+)<") or "unknown"


def describe(root: Path) -> Machine:
    memory_kib = _first("/proc/meminfo", r"^MemTotal:\s+(\d+) kB")
    return Machine(
        cores=os.cpu_count() or 0,
        memory_gib=round(int(memory_kib) / 2**20, 1) if memory_kib else 0.0,
        cpu=_first("/proc/cpuinfo", r"^model name\s*:\s*(.+)$")
        or platform.processor()
        or "unknown",
        os=f"{platform.system()} {platform.release()}",
        python=platform.python_version(),
        kafka=kafka_version(root),
    )
