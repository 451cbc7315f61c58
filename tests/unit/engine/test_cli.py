"""`daggerc start/status/list/cancel/send/worker` against a SQLite file, as a user runs them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from codegen.cli import main

ROOT = Path(__file__).resolve().parents[3]
STATE = '{"order_id": "A1", "amount_cents": 1250, "customer": "ann"}'


def daggerc(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


def test_start_status_list_cancel(capsys: pytest.CaptureFixture[str], db: str) -> None:
    code, out, _ = daggerc(
        capsys, "start", "generated:OrderWorkflow", "--state", STATE, "--broker", db
    )
    assert (code, out) == (0, "started OrderWorkflow:A1\n")
    code, out, _ = daggerc(
        capsys, "start", "generated:OrderWorkflow", "--state", STATE, "--broker", db, "--json"
    )
    assert code == 0 and json.loads(out) == {
        "id": "OrderWorkflow:A1",
        "workflow": "OrderWorkflow",
        "created": False,
    }
    code, out, _ = daggerc(capsys, "status", "OrderWorkflow:A1", "--broker", db, "--json")
    status = json.loads(out)
    assert code == 0 and status["status"] == "EXECUTING"
    assert status["state"]["order_id"] == "A1"
    first = {n["kind"]: n["status"] for n in status["nodes"] if n["name"].startswith("PAYMENT/")}
    assert first["command"] == "COMPLETED" and first["listen"] == "EXECUTING"
    code, out, _ = daggerc(capsys, "status", "OrderWorkflow:A1", "--broker", db)
    assert code == 0 and "status   EXECUTING" in out and "PAYMENT_LISTENER" in out
    code, out, _ = daggerc(capsys, "list", "--broker", db, "--status", "EXECUTING")
    assert code == 0 and out.splitlines()[1].split()[:3] == [
        "OrderWorkflow:A1",
        "OrderWorkflow",
        "EXECUTING",
    ]
    code, out, _ = daggerc(capsys, "cancel", "OrderWorkflow:A1", "--broker", db)
    assert (code, out) == (0, "OrderWorkflow:A1 STOPPED\n")
    code, out, _ = daggerc(capsys, "list", "--broker", db, "--json", "--limit", "1")
    page = json.loads(out)
    assert [(r["id"], r["status"]) for r in page["items"]] == [("OrderWorkflow:A1", "STOPPED")]
    assert page["next"] is None


def test_errors_are_one_line_with_usage_and_failure_codes(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    cases = [
        (("status", "OrderWorkflow:nope", "--broker", db), 1, "no run has id 'OrderWorkflow:nope'"),
        (("cancel", "OrderWorkflow:nope", "--broker", db), 1, "no run has id 'OrderWorkflow:nope'"),
        (
            ("start", "generated:Nope", "--state", "{}", "--broker", db),
            2,
            "generated has no workflow 'Nope'",
        ),
        (("start", "generated", "--state", "{}", "--broker", db), 2, "expected PACKAGE:Workflow"),
        (
            ("start", "generated:OrderWorkflow", "--state", "{", "--broker", db),
            2,
            "--state is not JSON",
        ),
        (
            ("start", "generated:OrderWorkflow", "--state", "{}", "--broker", db),
            2,
            "--state is not a valid Order",
        ),
        (
            ("start", "nowhere:W", "--state", "{}", "--broker", db),
            2,
            "cannot import the app 'nowhere'",
        ),
        (
            ("send", "NOPE", "--value", "{}", "--broker", db),
            2,
            "no workflow of the app uses topic 'NOPE'",
        ),
        (
            ("send", "PAYMENT_LISTENER", "--value", '{"order_id": "A1"}', "--broker", db),
            2,
            "not a valid PAYMENT_LISTENER message",
        ),
        (("list", "--broker", "postgres://x"), 2, "scheme must be one of"),
        (
            ("list", "--broker", "kafka://h:9092?parts=3", "--store", "memory://"),
            2,
            "daggerc list: unknown option 'parts' in 'kafka://h:9092?parts=3'; known: client_id",
        ),
        (
            ("list", "--broker", db, "--store", "aerospike://h:3000"),
            2,
            "daggerc list: the Aerospike URL names no namespace",
        ),
        (("list", "--broker", "sqlite://h/x.db"), 2, "sqlite URLs have no host"),
    ]
    for argv, want_code, want in cases:
        code, out, err = daggerc(capsys, *argv)
        assert (code, out) == (want_code, ""), argv
        assert err.count("\n") == 1 and want in err, (argv, err)
    with pytest.raises(SystemExit) as exit_info:
        main(["list", "--limit", "0"])
    assert exit_info.value.code == 2


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_a_backend_that_cannot_be_used_is_one_line_and_exit_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    port = free_port()
    (tmp_path / "a-file").write_text("not a folder")
    beside_a_file = f"sqlite:///{tmp_path / 'a-file' / 'x.db'}"
    cases = [
        (
            ("list", "--broker", f"kafka://127.0.0.1:{port}", "--store", "memory://"),
            f"daggerc list: cannot connect to Kafka at 127.0.0.1:{port}: [Errno 111] Connect call"
            f" failed ('127.0.0.1', {port})",
        ),
        (
            ("status", "OrderWorkflow:A1", "--broker", beside_a_file),
            f"daggerc status: cannot open the SQLite file {tmp_path / 'a-file' / 'x.db'}:",
        ),
    ]
    for argv, want in cases:
        code, out, err = daggerc(capsys, *argv)
        assert (code, out) == (1, ""), argv
        assert err.count("\n") == 1 and err.startswith(want), (argv, err)


@pytest.mark.parametrize("command", ["worker", "serve"])
def test_a_server_that_cannot_reach_kafka_waits_then_says_so_and_exits_1(command: str) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = [command, "--broker", f"kafka://127.0.0.1:{port}", "--store", "memory://"]
    argv += ["--app", "generated", "--wait", "2", *(["--port", "0"] if command == "serve" else [])]
    done = subprocess.run(
        [sys.executable, "-m", "codegen.cli", *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last == (
        f"daggerc {command}: cannot connect to Kafka at 127.0.0.1:{port}: [Errno 111] Connect"
        f" call failed ('127.0.0.1', {port})"
    )
    assert "trying again in 1 s" in done.stderr
    assert "Traceback" not in done.stderr


def test_send_checks_the_key_and_publishes(capsys: pytest.CaptureFixture[str], db: str) -> None:
    value = '{"order_id": "A1", "ok": true, "box_id": "B1"}'
    code, _, err = daggerc(
        capsys, "send", "PAYMENT_LISTENER", "--value", value, "--key", "A2", "--broker", db
    )
    assert code == 2 and "--key 'A2' differs from the message's key 'A1'" in err
    code, out, _ = daggerc(
        capsys,
        "send",
        "PAYMENT_LISTENER",
        "--value",
        value,
        "--id",
        "m-1",
        "--broker",
        db,
        "--json",
    )
    assert code == 0 and json.loads(out) == {"topic": "PAYMENT_LISTENER", "key": "A1", "id": "m-1"}


@pytest.mark.slow
def test_a_worker_moves_runs_and_exits_cleanly_on_sigterm(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    daggerc(capsys, "start", "generated:OrderWorkflow", "--state", STATE, "--broker", db)
    payment = '{"order_id": "A1", "ok": true, "box_id": "B1"}'
    daggerc(capsys, "send", "PAYMENT_LISTENER", "--value", payment, "--broker", db)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    worker = subprocess.Popen(
        [sys.executable, "-m", "codegen.cli", "worker", "--broker", db],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        packed = False
        while time.monotonic() < deadline:
            _code, out, _ = daggerc(capsys, "status", "OrderWorkflow:A1", "--broker", db, "--json")
            status = json.loads(out)
            waiting = [
                n for n in status["nodes"] if n["kind"] == "listen" and n["status"] == "EXECUTING"
            ]
            if status["status"] == "COMPLETED":
                break
            if waiting and "FULFILLMENT_LISTENER" in waiting[0]["name"] and not packed:
                daggerc(
                    capsys,
                    "send",
                    "FULFILLMENT_LISTENER",
                    "--value",
                    '{"box_id": "B1", "carrier": "ups"}',
                    "--broker",
                    db,
                )
                packed = True
            time.sleep(0.1)
        worker.send_signal(signal.SIGTERM)
        _, log = worker.communicate(timeout=20)
    finally:
        worker.kill()
    assert status["status"] == "COMPLETED", status
    assert worker.returncode == 0, log
    assert "worker serving OrderWorkflow" in log and "worker stopped" in log
