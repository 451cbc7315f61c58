"""Worker processes (`worker.py`) started, watched and killed by a test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
STOP_TIMEOUT_S = 30.0


class Worker:
    """One `worker.py` process; its stdout and stderr go to files beside the test's store."""

    def __init__(self, name: str, folder: Path, bootstrap: str, store: str, group: str) -> None:
        self.name = name
        self.out = folder / f"{name}.out"
        self.err = folder / f"{name}.err"
        argv = [sys.executable, "-m", "tests.integration.kafka.worker"]
        argv += ["--bootstrap", bootstrap, "--store", store, "--group", group]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=err)

    @property
    def transitions(self) -> int:
        """Events this worker applied, as it last reported."""
        lines = [ln for ln in self.out.read_text().splitlines() if ln.startswith("transitions ")]
        return int(lines[-1].split()[1]) if lines else 0

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown, no last commit, no leaving the group."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> int:
        """SIGTERM and wait for a clean exit; returns the exit code."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"worker {self.name} did not stop within {STOP_TIMEOUT_S} s"
            ) from None

    def log(self) -> str:
        return f"--- {self.name} stderr ---\n{self.err.read_text()[-4000:]}"


@contextmanager
def workers(
    names: list[str], folder: Path, bootstrap: str, store: str, group: str
) -> Iterator[list[Worker]]:
    """Start one worker per name; any still running at the end is killed."""
    started = [Worker(name, folder, bootstrap, store, group) for name in names]
    try:
        yield started
    finally:
        for w in started:
            if w.alive():
                w.kill()
