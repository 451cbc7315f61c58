"""Bad requests get a 4xx and a JSON error naming the problem; the token guards the API."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from attrs import evolve

from runtime import Engine
from runtime.ops.http import create_app
from runtime.ops.server import HttpServer, UnsafeBinding, check_binding, is_loopback, resolve_token
from runtime.ops.source import EngineSource

from .conftest import Served
from .parcels import Parcel, ParcelWorkflow
from .test_ops_http import call, start

START = "/api/workflows/ParcelWorkflow/instances"


@pytest.mark.parametrize(
    ("body", "error", "detail"),
    [
        (b'{"parcel_id": "X"', "bad JSON", "request body is not JSON"),
        (
            b'{"parcel_id": "X"}',
            "invalid state for workflow ParcelWorkflow",
            "Parcel.amount: missing",
        ),
        (
            b'{"parcel_id": "X", "amount": "ten"}',
            "invalid state for workflow ParcelWorkflow",
            "Parcel.amount: expected an integer",
        ),
        (b"[1, 2]", "invalid state for workflow ParcelWorkflow", "Parcel: expected an object"),
    ],
)
async def test_start_rejects_bad_state(
    served: Served, body: bytes, error: str, detail: str
) -> None:
    status, answer = await call(served, "POST", START, body)
    assert status == 400
    assert answer["error"] == error and detail in answer["detail"]


async def test_unknown_names_are_404_and_say_what_exists(served: Served) -> None:
    status, answer = await call(served, "POST", "/api/workflows/Nope/instances", b"{}")
    assert (status, answer["error"]) == (404, "unknown workflow")
    assert answer["detail"] == {"got": "Nope", "known": ["ParcelWorkflow"]}
    status, answer = await call(served, "GET", "/api/instances/ParcelWorkflow:ghost")
    assert (status, answer["error"]) == (404, "unknown instance")
    status, answer = await call(served, "POST", "/api/instances/ParcelWorkflow:ghost/cancel")
    assert (status, answer["error"]) == (404, "unknown instance")
    status, answer = await call(served, "POST", "/api/topics/ops.nope", b"{}")
    assert answer["detail"]["known"] == ["ops.charges", "ops.paid"] and status == 404
    status, answer = await call(served, "GET", "/api/nothing-here")
    assert (status, answer["error"]) == (404, "Not Found")


async def test_a_message_that_does_not_decode_names_the_field(served: Served) -> None:
    status, answer = await call(served, "POST", "/api/topics/ops.paid", b'{"parcel_id": "A"}')
    assert status == 400 and answer["error"] == "invalid message for topic ops.paid"
    assert "Paid.ok: missing" in answer["detail"]
    status, answer = await call(served, "POST", "/api/topics/ops.paid", b"not json")
    assert (status, answer["error"]) == (400, "bad JSON")


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("status=DONE", "unknown status"),
        ("limit=0", "bad limit"),
        ("limit=501", "bad limit"),
        ("limit=ten", "bad limit"),
        ("workflow=Nope", "unknown workflow"),
        ("cursor=not-a-cursor", "bad cursor"),
    ],
)
async def test_list_rejects_bad_queries(served: Served, query: str, error: str) -> None:
    status, answer = await call(served, "GET", f"/api/instances?{query}")
    assert status in (400, 404) and answer["error"] == error


async def test_a_cursor_only_fits_the_query_it_came_from(served: Served) -> None:
    for n in range(3):
        await start(served, f"C{n}", 100)
    _, page = await call(served, "GET", "/api/instances?limit=1")
    status, answer = await call(
        served, "GET", f"/api/instances?limit=1&status=FAILED&cursor={page['next']}"
    )
    assert (status, answer["error"]) == (400, "bad cursor")
    assert "workflow=None status=None" in answer["detail"]


# --------------------------------------------------------------------------- the token


async def test_with_a_token_the_api_needs_it_and_health_stays_open(guarded: Served) -> None:
    status, answer = await call(guarded, "GET", "/api/workflows")
    assert (status, answer["error"]) == (401, "missing or wrong bearer token")
    status, _ = await call(guarded, "GET", "/metrics", token="wrong")
    assert status == 401
    status, _ = await call(guarded, "GET", "/api/workflows", token="s3cret-token")
    assert status == 200
    status, _ = await call(guarded, "GET", "/metrics", token="s3cret-token")
    assert status == 200
    assert (await call(guarded, "GET", "/healthz"))[0] == 200
    status, page = await call(guarded, "GET", "/")
    assert status == 200 and "<title>dagger</title>" in page


def test_serving_beyond_loopback_needs_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    for host in ("127.0.0.1", "::1", "localhost", "127.0.0.2"):
        assert is_loopback(host)
        check_binding(host, None)
    for host in ("0.0.0.0", "::", "192.0.2.7", "ops.example"):
        assert not is_loopback(host)
        with pytest.raises(UnsafeBinding, match=f"refusing to serve on {host} without a token"):
            check_binding(host, None)
        check_binding(host, "t")
    monkeypatch.setenv("DAGGER_TOKEN", "from-env")
    assert resolve_token(None) == "from-env"
    assert resolve_token("flag") == "flag"
    monkeypatch.setenv("DAGGER_TOKEN", "")
    assert resolve_token(None) is None


async def test_a_run_of_another_workflow_version_is_a_409_that_says_why(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'versions.db'}"
    async with Engine(url, workflows=[ParcelWorkflow]) as engine:
        run = await engine.start(ParcelWorkflow, Parcel(parcel_id="P1", amount=5))
    rebuilt = evolve(ParcelWorkflow, version="rebuilt")  # recompiled since the run started
    async with (
        Engine(url, workflows=[rebuilt]) as engine,
        HttpServer(create_app(EngineSource(engine)), port=0) as server,
        aiohttp.ClientSession() as http,
        http.get(f"{server.url}/api/instances/{run.id}") as response,
    ):
        answer = await response.json()
    assert (response.status, answer["error"]) == (409, "unreadable instance")
    assert "version rebuilt" in answer["detail"]["why"], answer
