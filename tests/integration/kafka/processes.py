"""Processes a test starts, watches and kills: workers (`worker.py`) and a private broker."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
STOP_TIMEOUT_S = 30.0
KAFKA_SCRIPT = ROOT / "scripts" / "kafka.sh"


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


class PrivateBroker:
    """A broker of the test's own, run by `scripts/kafka.sh` on free ports, so stopping it
    disturbs nobody else's tests. `stop()` keeps its data; `start()` serves it again."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self.port = free_port_pair()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.env = dict(env or {})  # for scripts/kafka.sh, e.g. DAGGER_KAFKA_EXTRA_CONFIG

    def up(self) -> None:
        _script_sync("up", self.port, self.env)

    def down(self) -> None:
        """Stop it and delete its data, and the script's lock file for this one-off port."""
        _script_sync("down", self.port, self.env)
        cache = Path(os.environ.get("DAGGER_CACHE", Path.home() / ".cache" / "dagger"))
        (cache / f"kafka-run-{self.port}.lock").unlink(missing_ok=True)

    async def stop(self) -> None:
        await _script("stop", self.port)

    async def start(self) -> None:
        await _script("start", self.port)


def free_port_pair() -> int:
    """A port p such that p and p + 1 (the controller's) are free now."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no two consecutive free ports found on 127.0.0.1")


def _env(port: int, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return {**os.environ, **(extra or {}), "DAGGER_KAFKA_PORT": str(port)}


def _script_sync(command: str, port: int, extra: Mapping[str, str] | None = None) -> None:
    done = subprocess.run(
        ["bash", str(KAFKA_SCRIPT), command],
        env=_env(port, extra),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"scripts/kafka.sh {command} failed:\n{done.stdout}{done.stderr}")


async def _script(command: str, port: int) -> None:
    process = await asyncio.create_subprocess_exec(
        "bash",
        str(KAFKA_SCRIPT),
        command,
        env=_env(port),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"scripts/kafka.sh {command} failed:\n{output.decode()}")
