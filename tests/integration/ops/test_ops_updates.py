"""The update stream: status changes reach callbacks, the server-sent event stream and a topic."""

from __future__ import annotations

import asyncio

import orjson

from runtime import Engine
from runtime.ops.hooks import Observers
from runtime.ops.updates import StatusUpdate, UpdateStream
from runtime.types import MESSAGE_ID_HEADER, Status

from .conftest import Served
from .parcels import CHARGES, PAYMENTS, Charge, Paid, Parcel, ParcelWorkflow
from .test_ops_http import start


async def test_the_event_stream_tells_a_page_about_each_status_change(served: Served) -> None:
    async with served.http.get(served.url + "/api/updates") as response:
        assert response.headers["Content-Type"] == "text/event-stream"
        assert await asyncio.wait_for(response.content.readline(), 5) == b": connected\n"
        instance_id = await start(served, "SSE", 100)
        await served.settle()
        seen: list[dict[str, object]] = []
        while len(seen) < 2:
            line = await asyncio.wait_for(response.content.readline(), 5)
            if line.startswith(b"data: "):
                seen.append(orjson.loads(line[6:]))
    assert [(u["id"], u["status"]) for u in seen] == [
        (instance_id, "EXECUTING"),
        (instance_id, "COMPLETED"),
    ]
    assert seen[0]["workflow"] == "ParcelWorkflow"


async def test_status_changes_are_published_to_the_updates_topic_keyed_by_instance() -> None:
    observers = Observers()
    async with Engine("memory://", workflows=[ParcelWorkflow], observer=observers) as engine:
        updates = UpdateStream(engine.broker, "dagger.updates")
        observers.add(updates)
        await updates.start()

        async def payment_side(charge: Charge) -> None:
            await engine.send(PAYMENTS, Paid(charge.parcel_id, charge.amount < 1000))

        engine.subscribe(CHARGES, payment_side)
        await engine.start(ParcelWorkflow, Parcel("T1", 10))
        await engine.start(ParcelWorkflow, Parcel("T2", 5000))
        await engine.run(until_idle=True)
        await updates.close()
        consumer = engine.broker.consumer("test.updates", ["dagger.updates"])
        await consumer.start()
        records = await consumer.fetch(100, 1.0)
        await consumer.close()
    got = [(r.key, orjson.loads(r.value)["status"]) for r in records]
    assert sorted(got) == [
        ("ParcelWorkflow:T1", "COMPLETED"),
        ("ParcelWorkflow:T1", "EXECUTING"),
        ("ParcelWorkflow:T2", "EXECUTING"),
        ("ParcelWorkflow:T2", "FAILED"),
    ]
    per_instance = [s for k, s in got if k == "ParcelWorkflow:T1"]
    assert per_instance == ["EXECUTING", "COMPLETED"]  # in order, per key
    first = records[0]
    assert first.header(MESSAGE_ID_HEADER) == f"{first.key}:EXECUTING".encode()
    assert set(orjson.loads(first.value)) == {"id", "workflow", "status", "at"}


def test_callbacks_receive_updates_until_they_unsubscribe() -> None:
    stream = UpdateStream(clock=lambda: 12.5)
    got: list[StatusUpdate] = []
    unsubscribe = stream.subscribe(got.append)
    stream.on_status("A1", "Orders", Status.EXECUTING)
    unsubscribe()
    stream.on_status("A1", "Orders", Status.COMPLETED)
    assert got == [StatusUpdate("A1", "Orders", Status.EXECUTING, 12.5)]
    assert got[0].to_json() == b'{"id":"A1","workflow":"Orders","status":"EXECUTING","at":12.5}'
