"""Every endpoint of the operations API, over a real socket, against a real engine."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from .conftest import DECLINE_FROM, HELD, Served


async def call(
    s: Served, method: str, path: str, body: bytes | None = None, token: str | None = None
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with s.http.request(method, s.url + path, data=body, headers=headers) as response:
        if response.content_type == "application/json":
            return response.status, await response.json()
        return response.status, await response.text()


async def start(s: Served, parcel: str, amount: int) -> str:
    body = f'{{"parcel_id": "{parcel}", "amount": {amount}}}'.encode()
    status, answer = await call(s, "POST", "/api/workflows/ParcelWorkflow/instances", body)
    assert status == 201, answer
    instance_id: str = answer["id"]
    return instance_id


# --------------------------------------------------------------------------- health and reading


async def test_health_and_readiness(served: Served) -> None:
    assert await call(served, "GET", "/healthz") == (200, {"status": "ok"})
    assert await call(served, "GET", "/readyz") == (200, {"status": "ready"})


async def test_workflows_list_version_graph_and_node_table(served: Served) -> None:
    status, answer = await call(served, "GET", "/api/workflows")
    assert status == 200
    (wf,) = answer["items"]
    assert (wf["name"], wf["version"]) == ("ParcelWorkflow", "ops-test-1")
    assert wf["graph"].startswith("flowchart TD")
    assert wf["topics"] == ["ops.charges", "ops.paid"]
    decide = wf["nodes"][4]
    assert (decide["kind"], decide["children"], decide["labels"]) == (
        "decide",
        [5, 8],
        ["True", "False"],
    )


async def test_a_started_instance_shows_state_and_every_node(served: Served) -> None:
    instance_id = await start(served, "P1", 250)
    await served.settle()
    status, inst = await call(served, "GET", f"/api/instances/{instance_id}")
    assert status == 200
    assert (inst["id"], inst["workflow"], inst["status"]) == (
        instance_id,
        "ParcelWorkflow",
        "COMPLETED",
    )
    state = inst["state"]
    assert (state["parcel_id"], state["amount"], state["paid"], state["notified"]) == (
        "P1",
        250,
        True,
        True,
    )
    by_name = {n["name"]: n for n in inst["nodes"]}
    assert len(inst["nodes"]) == 11
    assert by_name["fail declined"]["status"] == "SKIPPED"
    assert by_name["call notify"]["status"] == "COMPLETED"
    assert by_name["call notify"]["started_at"] <= by_name["call notify"]["ended_at"]


async def test_starting_the_same_key_again_returns_the_same_instance(served: Served) -> None:
    first = await start(served, "P2", 100)
    body = b'{"parcel_id": "P2", "amount": 100}'
    status, answer = await call(served, "POST", "/api/workflows/ParcelWorkflow/instances", body)
    assert (status, answer["id"], answer["created"]) == (200, first, False)


async def test_paging_through_more_instances_than_a_page(served: Served) -> None:
    for n in range(23):
        await start(served, f"Q{n:02d}", 100 if n % 4 else DECLINE_FROM + n)
    await served.settle()
    seen: list[str] = []
    pages = 0
    path = "/api/instances?limit=10"
    while True:
        status, page = await call(served, "GET", path)
        assert status == 200 and len(page["items"]) <= 10
        seen += [item["id"] for item in page["items"]]
        pages += 1
        if page["next"] is None:
            break
        path = f"/api/instances?limit=10&cursor={page['next']}"
    assert pages == 3 and len(seen) == len(set(seen)) == 23
    _, failed = await call(served, "GET", "/api/instances?status=failed&workflow=ParcelWorkflow")
    assert {i["status"] for i in failed["items"]} == {"FAILED"} and len(failed["items"]) == 6
    _, done = await call(served, "GET", "/api/instances?status=COMPLETED&limit=500")
    assert len(done["items"]) == 17 and done["next"] is None


# --------------------------------------------------------------------------- writing


async def test_cancel_stops_a_waiting_instance(served: Served) -> None:
    instance_id = await start(served, "HOLD", HELD)
    await served.settle()
    status, answer = await call(served, "POST", f"/api/instances/{instance_id}/cancel")
    assert (status, answer) == (200, {"id": instance_id, "status": "STOPPED"})
    _, inst = await call(served, "GET", f"/api/instances/{instance_id}")
    assert inst["status"] == "STOPPED"
    status, answer = await call(served, "POST", f"/api/instances/{instance_id}/cancel")
    assert status == 409 and answer["error"] == "instance already finished"


async def test_a_message_posted_to_a_topic_reaches_the_waiting_instance(served: Served) -> None:
    instance_id = await start(served, "BYHAND", HELD)
    await served.settle()
    body = b'{"parcel_id": "BYHAND", "ok": true}'
    status, answer = await call(served, "POST", "/api/topics/ops.paid", body)
    assert (status, answer) == (202, {"topic": "ops.paid", "key": "BYHAND"})
    await served.settle()
    _, inst = await call(served, "GET", f"/api/instances/{instance_id}")
    assert inst["status"] == "COMPLETED" and inst["state"]["paid"] is True


async def test_metrics_count_what_the_engine_did(served: Served) -> None:
    await start(served, "M1", 100)
    await start(served, "M2", DECLINE_FROM)
    await served.settle()
    status, text = await call(served, "GET", "/metrics")
    assert status == 200
    values = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    wf = (("workflow", "ParcelWorkflow"),)
    assert values["dagger_instances_started_total", wf] == 2
    assert values["dagger_instances_completed_total", wf] == 1
    assert values["dagger_instances_failed_total", wf] == 1
    listen = (("node_kind", "listen"), ("workflow", "ParcelWorkflow"))
    assert values["dagger_transitions_total", listen] == 2
    assert values["dagger_transition_seconds_count", wf] >= 2


async def test_the_engine_reports_store_and_broker_latency(served: Served) -> None:
    await start(served, "LAT-1", 120)
    await served.settle()
    status, text = await call(served, "GET", "/metrics")
    assert status == 200
    counts = {
        (s.name, s.labels.get("operation")): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.endswith("_seconds_count")
    }
    assert counts[("dagger_store_seconds_count", "put")] >= 2  # the start and the payment step
    assert counts[("dagger_store_seconds_count", "get")] >= 1
    assert counts[("dagger_broker_seconds_count", "send")] >= 1  # the charge command
