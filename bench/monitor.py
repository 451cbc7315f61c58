"""Running one contender as a child process: its progress bar, its peak RSS, its result line.

The child runs in a session of its own, so a timeout or Ctrl-C ends its whole process tree.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from attrs import frozen

SAMPLE_EVERY_S = 0.25
PAGE = os.sysconf("SC_PAGE_SIZE")
BAR_WIDTH = 28


# --------------------------------------------------------------------------------- memory


def _parent_of(pid: str) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
    except OSError:
        return None
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    return int(stat.rsplit(")", 1)[1].split()[1])


def tree(root: int) -> list[int]:
    """`root` and all its descendants that are alive now."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            parent = _parent_of(entry)
            if parent is not None:
                children.setdefault(parent, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def rss_mb(pids: Sequence[int]) -> float:
    """Summed resident memory of `pids` in MB (shared pages count once per process)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm", encoding="ascii") as f:
                total += int(f.read().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            continue
    return total / 1e6


# --------------------------------------------------------------------------------- progress bar


class Bar:
    """A progress line on stderr: redrawn in place on a terminal, else a line per quarter."""

    def __init__(self, name: str, stream: IO[str] | None = None) -> None:
        self.name = name
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.started = time.monotonic()
        self.phase, self.done, self.total, self.rss = "starting", 0, 0, 0.0
        self._quarter = -1

    def progress(self, phase: str, done: int, total: int) -> None:
        if phase != self.phase:
            self._quarter = -1
        self.phase, self.done, self.total = phase, done, total
        quarter = 4 * done // total if total else 0
        if self.tty:
            self._draw()
        elif quarter != self._quarter:
            self._quarter = quarter
            self.stream.write(self._text() + "\n")
            self.stream.flush()

    def memory(self, rss: float) -> None:
        self.rss = max(self.rss, rss)
        if self.tty:
            self._draw()

    def finish(self, summary: str) -> None:
        end = "\r\x1b[K" if self.tty else ""
        self.stream.write(f"{end}{self.name:<15} {summary}\n")
        self.stream.flush()

    def _text(self) -> str:
        filled = BAR_WIDTH * self.done // self.total if self.total else 0
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        elapsed = time.monotonic() - self.started
        return (
            f"{self.name:<15} {self.phase:<9} [{bar}] {self.done:>8,}/{self.total:<8,} "
            f"{elapsed:6.1f} s {self.rss:6.0f} MB"
        )

    def _draw(self) -> None:
        self.stream.write("\r\x1b[K" + self._text())
        self.stream.flush()


# --------------------------------------------------------------------------------- child


@frozen
class ChildResult:
    returncode: int | None  # None: killed at the timeout
    result: dict[str, Any] | None
    skipped: str | None
    peak_rss_mb: float
    seconds: float
    log: Path

    @property
    def failure(self) -> str | None:
        """Why the child gave no result, or None."""
        if self.result is not None or self.skipped is not None:
            return None
        if self.returncode is None:
            return f"timed out after {self.seconds:.0f} s (log: {self.log})"
        return f"exited with status {self.returncode} and no result (log: {self.log})"


class _Lines:
    """What the child said on stdout."""

    def __init__(self, bar: Bar, log: IO[str]) -> None:
        self.bar, self.log = bar, log
        self.result: dict[str, Any] | None = None
        self.skipped: str | None = None

    def feed(self, raw: bytes) -> None:
        line = raw.decode(errors="replace").strip()
        try:
            message = json.loads(line)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            self.log.write(f"[stdout] {line}\n")
        elif "progress" in message:
            p = message["progress"]
            self.bar.progress(str(p["phase"]), int(p["done"]), int(p["total"]))
        elif "result" in message:
            self.result = dict(message["result"])
        elif "skipped" in message:
            self.skipped = str(message["skipped"])


async def _sample(pid: int, bar: Bar) -> None:
    while True:
        bar.memory(await asyncio.to_thread(lambda: rss_mb(tree(pid))))
        await asyncio.sleep(SAMPLE_EVERY_S)


async def _end_group(process: asyncio.subprocess.Process) -> None:
    """End the child (SIGTERM, then SIGKILL after 5 s) and whatever it left in its group."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if process.returncode is not None:
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), 5.0)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def _open_log(path: Path, argv: Sequence[str]) -> IO[str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    log = open(path, "w", encoding="utf-8")  # noqa: SIM115 (closed by the caller's `with`)
    log.write(f"$ {' '.join(argv)}\n")
    log.flush()
    return log


async def run_child(
    bar: Bar,
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    log_path: Path,
    timeout_s: float,
) -> ChildResult:
    """Run `argv`, drawing its progress on `bar`, and return what it reported."""
    started = time.monotonic()
    with _open_log(log_path, argv) as log:
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=dict(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
            start_new_session=True,
        )
        lines = _Lines(bar, log)
        sampler = asyncio.create_task(_sample(process.pid, bar))
        returncode: int | None = None
        try:
            async with asyncio.timeout(timeout_s):
                assert process.stdout is not None
                async for raw in process.stdout:
                    lines.feed(raw)
                returncode = await process.wait()
        except TimeoutError:
            returncode = None
        finally:
            sampler.cancel()
            await _end_group(process)
    return ChildResult(
        returncode=returncode,
        result=lines.result,
        skipped=lines.skipped,
        peak_rss_mb=bar.rss,
        seconds=time.monotonic() - started,
        log=log_path,
    )
