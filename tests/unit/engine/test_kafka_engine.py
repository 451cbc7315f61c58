"""The Engine over Apache Kafka with a SQLite store: each write durable on its own, the outbox in
use, consumer groups, a message id per effect. Needs `make kafka-up` (DAGGER_KAFKA_BOOTSTRAP)."""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from attrs import evolve

from runtime import Engine, Status

from .flows import Doc, Msg, call, command, listen, process, topic, workflow

BOOTSTRAP = os.environ.get("DAGGER_KAFKA_BOOTSTRAP")

pytestmark = [
    pytest.mark.kafka,
    pytest.mark.skipif(not BOOTSTRAP, reason="DAGGER_KAFKA_BOOTSTRAP is not set (make kafka-up)"),
]


async def test_command_listen_call_over_kafka(tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]  # topics and groups of their own: the broker outlives the test
    requests, replies = topic(f"req-{tag}"), topic(f"rep-{tag}")
    wf = workflow(
        f"Kafka{tag}",
        process("P", command(requests), listen(replies), call(lambda d: evolve(d, n=1))),
    )
    url, store = f"kafka://{BOOTSTRAP}", f"sqlite:///{tmp_path / 'state.db'}"
    async with Engine(url, store, workflows=[wf], group=f"engine-{tag}") as engine:
        seen: list[Msg] = []

        async def service(m: Msg) -> None:
            seen.append(m)
            await engine.send(replies, Msg(m.key, "ok"), message_id=f"reply/{m.key}")

        engine.subscribe(requests, service, group=f"service-{tag}")
        runs = [await engine.start(wf, Doc(f"k{i}")) for i in range(20)]
        await engine.run(until_idle=True)
        statuses = [await engine.status(r.id) for r in runs]
    assert all(s is not None and s.status is Status.COMPLETED for s in statuses)
    assert all(s is not None and s.state == Doc(s.state.key, n=1, seen=("ok",)) for s in statuses)
    assert sorted(m.key for m in seen) == sorted(f"k{i}" for i in range(20))


async def test_a_command_too_long_for_kafka_fails_its_run_and_the_engine_goes_on(
    tmp_path: Path,
) -> None:
    """Kafka refuses a message over about 1 MiB. Sent anyway, it stopped the engine, and every
    restart again, from the outbox. The default limit fails the run at its command instead."""
    tag = uuid.uuid4().hex[:8]
    requests, replies = topic(f"req-{tag}"), topic(f"rep-{tag}")
    text = {"big": "x" * 1_200_000, "small": "fine"}
    build = lambda d: Msg(d.key, text[d.key])  # noqa: E731 (as a DSL lambda)
    wf = workflow(f"Big{tag}", process("P", command(requests, build), listen(replies)))
    url, store = f"kafka://{BOOTSTRAP}", f"sqlite:///{tmp_path / 'state.db'}"
    async with Engine(url, store, workflows=[wf], group=f"engine-{tag}") as engine:

        async def service(m: Msg) -> None:
            await engine.send(replies, Msg(m.key, "ok"), message_id=f"reply/{m.key}")

        engine.subscribe(requests, service, group=f"service-{tag}")
        big = await engine.start(wf, Doc("big"))
        small = await engine.start(wf, Doc("small"))
        await engine.run(until_idle=True)
        failed, done = await engine.status(big.id), await engine.status(small.id)
    assert failed is not None and failed.status is Status.FAILED
    assert failed.error is not None and failed.error.endswith(
        "message is 1,200,023 bytes encoded; the broker takes at most 1,000,000"
    ), failed.error
    assert failed.pending_effects == 0
    assert done is not None and done.status is Status.COMPLETED


async def test_a_message_the_topic_refuses_stays_owed_until_the_topic_takes_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A topic configured for smaller messages than the engine's limit refuses one: the run keeps
    it in its outbox (the engine goes on), and housekeeping sends it once the topic takes it. The
    refusal is an error in the log once; the sweeps that try again log it at debug level."""
    caplog.set_level(logging.DEBUG, logger="dagger.engine")
    tag = uuid.uuid4().hex[:8]
    requests, replies = topic(f"req-{tag}"), topic(f"rep-{tag}")
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    try:
        limit = {"max.message.bytes": "20000"}
        await admin.create_topics([NewTopic(requests.name, 1, 1, topic_configs=limit)])
        text = {"big": "x" * 50_000, "small": "fine"}
        build = lambda d: Msg(d.key, text[d.key])  # noqa: E731 (as a DSL lambda)
        wf = workflow(f"Owed{tag}", process("P", command(requests, build), listen(replies)))
        url, store = f"kafka://{BOOTSTRAP}", f"sqlite:///{tmp_path / 'state.db'}"
        async with Engine(
            url, store, workflows=[wf], group=f"engine-{tag}", recover_after=1.0
        ) as engine:

            async def service(m: Msg) -> None:
                await engine.send(replies, Msg(m.key, "ok"), message_id=f"reply/{m.key}")

            engine.subscribe(requests, service, group=f"service-{tag}")
            serving = asyncio.create_task(engine.run())
            big = await engine.start(wf, Doc("big"))
            small = await engine.start(wf, Doc("small"))
            assert await finished(engine, small.id) is Status.COMPLETED
            owed = await engine.status(big.id)
            assert owed is not None and owed.status is Status.EXECUTING
            assert owed.pending_effects == 1
            again = await logged(caplog, f"instance {big.id}: 1 message(s) stay in its outbox")
            assert [r.levelno for r in again[:2]] == [logging.ERROR, logging.DEBUG]
            assert "(refused again)" in again[1].getMessage()
            bigger = ConfigResource(
                ConfigResourceType.TOPIC, requests.name, configs={"max.message.bytes": "200000"}
            )
            await admin.alter_configs([bigger])
            assert await finished(engine, big.id) is Status.COMPLETED
            engine.shutdown()
            await serving
    finally:
        await admin.close()


async def logged(
    caplog: pytest.LogCaptureFixture, text: str, count: int = 2, within: float = 30.0
) -> list[logging.LogRecord]:
    """The log records holding `text` once there are `count` of them (or after `within` s)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        found = [r for r in caplog.records if text in r.getMessage()]
        if len(found) >= count or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.1)


async def finished(engine: Engine, run_id: str, within: float = 30.0) -> Status | None:
    """The run's status once it has finished, or as it is after `within` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        status = await engine.status(run_id)
        if status is not None and status.status.finished:
            return status.status
        if asyncio.get_running_loop().time() > deadline:
            return None if status is None else status.status
        await asyncio.sleep(0.1)
