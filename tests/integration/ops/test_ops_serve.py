"""`daggerc serve` as a user runs it: a real process, a real port, stopped by SIGTERM."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from codegen.cli import main

ROOT = Path(__file__).resolve().parents[3]
APP = "tests.integration.ops.parcels"


def test_refuses_to_serve_beyond_loopback_without_a_token(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DAGGER_TOKEN", raising=False)
    code = main(["serve", "--app", APP, "--broker", "memory://", "--host", "0.0.0.0"])
    assert code == 2
    assert "refusing to serve on 0.0.0.0 without a token" in capsys.readouterr().err


def test_an_app_without_workflows_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["serve", "--app", "json", "--broker", "memory://", "--port", "0"])
    assert code == 2  # a bad --app is a usage error, as for `daggerc worker`
    assert "the app 'json' holds no compiled workflow" in capsys.readouterr().err


async def test_serve_runs_the_engine_and_the_api_until_sigterm() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DAGGER_TOKEN": "tok"}
    command = ["-m", "codegen.cli", "serve", "--app", APP, "--broker", "memory://", "--port", "0"]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *command,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        found = re.search(r"serving (http://127\.0\.0\.1:\d+) \(ParcelWorkflow\)", line)
        assert found, line
        url, auth = found.group(1), {"Authorization": "Bearer tok"}
        async with aiohttp.ClientSession(headers=auth) as http:
            async with http.get(f"{url}/readyz") as response:
                assert response.status == 200
            body = b'{"parcel_id": "S1", "amount": 5}'
            async with http.post(
                f"{url}/api/workflows/ParcelWorkflow/instances", data=body
            ) as response:
                assert response.status == 201
            async with http.get(f"{url}/api/instances/ParcelWorkflow:S1") as response:
                assert (await response.json())["status"] == "EXECUTING"  # waits for its payment
            async with http.get(f"{url}/metrics") as response:
                assert (
                    'dagger_instances_started_total{workflow="ParcelWorkflow"} 1.0'
                    in await response.text()
                )
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
