"""`daggerc worker` started before its broker: it waits for Kafka (saying so), then serves; a
worker stopped while it waits exits cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .processes import ROOT, PrivateBroker
from .support import KAFKA

pytestmark = KAFKA

SERVING_WITHIN_S = 60.0


@pytest.fixture
def not_yet_up() -> Iterator[PrivateBroker]:
    broker = PrivateBroker()  # ports chosen, nothing listening yet
    try:
        yield broker
    finally:
        broker.down()


def daggerc_worker(bootstrap: str, folder: Path) -> tuple[subprocess.Popen[str], Path]:
    log = folder / "worker.log"
    argv = [sys.executable, "-m", "codegen.cli", "worker", "--app", "generated"]
    argv += ["--broker", f"kafka://{bootstrap}", "--store", f"sqlite:///{folder / 'w.db'}"]
    with open(log, "w") as out:
        process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    return process, log


def wait_for_line(log: Path, text: str, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if text in log.read_text():
            return True
        time.sleep(0.2)
    return False


def test_a_worker_started_before_kafka_waits_for_it_and_serves(
    not_yet_up: PrivateBroker, tmp_path: Path
) -> None:
    worker, log = daggerc_worker(not_yet_up.bootstrap, tmp_path)
    try:
        waiting = f"cannot connect to Kafka at {not_yet_up.bootstrap}"
        assert wait_for_line(log, waiting, 30), log.read_text()
        assert worker.poll() is None, log.read_text()  # still there, waiting
        not_yet_up.up()
        assert wait_for_line(log, "worker serving OrderWorkflow", SERVING_WITHIN_S), log.read_text()
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0, log.read_text()
    finally:
        worker.kill()
    assert "trying again in" in log.read_text()


def test_a_worker_stopped_while_it_waits_for_kafka_exits_0(
    not_yet_up: PrivateBroker, tmp_path: Path
) -> None:
    worker, log = daggerc_worker(not_yet_up.bootstrap, tmp_path)
    try:
        assert wait_for_line(log, "trying again in", 30), log.read_text()
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(10) == 0, log.read_text()
    finally:
        worker.kill()
    assert "worker stopped before its backends answered" in log.read_text()
