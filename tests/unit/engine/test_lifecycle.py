"""run() and shutdown(), hand-off between processes, recovery of an outbox left behind, misuse."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest
from attrs import evolve

from runtime import Engine, EngineError, Status, UnknownWorkflowError, UnreadableRunError, UrlError
from runtime.types import Outgoing

from .flows import Doc, Msg, call, command, listen, process, topic, workflow

REQUESTS = topic("REQUESTS")
REPLIES = topic("REPLIES")
PING = workflow("Ping", process("P", command(REQUESTS), listen(REPLIES)))


def bump(d: Doc) -> Doc:
    return evolve(d, n=d.n + 1)


CALLS = workflow("Calls", process("P", call(bump), command(REQUESTS)))


async def test_run_serves_until_shutdown(url: str) -> None:
    async with Engine(url, workflows=[PING]) as engine:
        seen: list[Msg] = []

        async def service(m: Msg) -> None:
            seen.append(m)
            await engine.send(REPLIES, Msg(m.key, "ok"))

        engine.subscribe(REQUESTS, service)
        serving = asyncio.create_task(engine.run())
        run = await engine.start(PING, Doc("s1"))
        for _ in range(200):
            status = await engine.status(run.id)
            if status is not None and status.status is Status.COMPLETED:
                break
            await asyncio.sleep(0.01)
        engine.shutdown()
        engine.shutdown()  # idempotent
        await asyncio.wait_for(serving, 5)
    assert status is not None and status.status is Status.COMPLETED
    assert seen == [Msg("s1")]


async def test_leaving_the_context_stops_a_running_engine(url: str) -> None:
    async with Engine(url, workflows=[PING]) as engine:
        serving = asyncio.create_task(engine.run())
        await asyncio.sleep(0.05)
    await asyncio.wait_for(serving, 5)


async def test_calls_of_a_client_are_handed_to_a_worker(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    async with Engine(url, workflows=[CALLS]) as client:
        run = await client.start(CALLS, Doc("h"))  # the call is owed, not run: no run() here
    async with Engine(url, workflows=[CALLS]) as worker:
        before = await worker.status(run.id)
        await worker.run(until_idle=True)
        after = await worker.status(run.id)
    assert before is not None and before.status is Status.EXECUTING and before.pending_effects == 1
    assert after is not None and after.status is Status.COMPLETED and after.state.n == 1


async def test_a_running_worker_takes_a_hand_off_at_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    async with Engine(url, workflows=[CALLS], recover_after=3600) as worker:
        serving = asyncio.create_task(worker.run())
        await asyncio.sleep(0.1)  # serving; its start-up recovery is over
        async with Engine(url, workflows=[CALLS]) as client:
            run = await client.start(CALLS, Doc("h2"))
        for _ in range(300):
            status = await worker.status(run.id)
            if status is not None and status.status is Status.COMPLETED:
                break
            await asyncio.sleep(0.01)
        worker.shutdown()
        await serving
    assert status is not None and status.status is Status.COMPLETED


class FailingSends:
    """A real broker whose next `send` fails once, as a crash between two steps would."""

    def __init__(self, engine: Engine) -> None:
        self.inner = engine.broker
        self.armed = True
        engine.broker = self  # type: ignore[assignment]
        engine._core.broker = self  # type: ignore[assignment]

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def send(self, messages: Sequence[Outgoing]) -> None:
        if self.armed:
            self.armed = False
            raise ConnectionError("broker went away")
        await self.inner.send(messages)


async def test_an_outbox_left_by_a_failure_is_performed_on_the_next_run(tmp_path: Path) -> None:
    # the log and the state in two files: each write is durable on its own, the outbox matters
    url, store_url = f"sqlite:///{tmp_path / 'log.db'}", f"sqlite:///{tmp_path / 'state.db'}"
    async with Engine(url, store_url, workflows=[PING]) as engine:
        FailingSends(engine)
        with pytest.raises(ConnectionError):
            await engine.start(PING, Doc("lost"))
        left = await engine.status("Ping:lost")
    assert left is not None and left.pending_effects > 0  # recorded, not yet sent
    async with Engine(url, store_url, workflows=[PING]) as engine:
        seen: list[Msg] = []

        async def service(m: Msg) -> None:
            seen.append(m)
            await engine.send(REPLIES, Msg(m.key, "ok"), message_id=f"reply/{m.key}")

        engine.subscribe(REQUESTS, service)
        await engine.run(until_idle=True)
        status = await engine.status("Ping:lost")
    assert status is not None and status.status is Status.COMPLETED
    assert seen == [Msg("lost")]


async def test_in_one_file_a_failed_step_records_nothing(tmp_path: Path) -> None:
    # log and state share one transaction: the step is all or nothing
    url = f"sqlite:///{tmp_path / 'one.db'}"
    async with Engine(url, workflows=[PING]) as engine:
        broken = FailingSends(engine)
        with pytest.raises(ConnectionError):
            await engine.start(PING, Doc("again"))
        assert await engine.status("Ping:again") is None
        engine._core.broker = broken.inner
        run = await engine.start(PING, Doc("again"))
        status = await engine.status(run.id)
    assert run.created and status is not None and status.status is Status.EXECUTING


async def test_misuse_is_reported_clearly(url: str) -> None:
    engine = Engine(url, workflows=[PING])
    with pytest.raises(EngineError, match="not open"):
        await engine.start(PING, Doc("x"))
    async with engine:
        with pytest.raises(UnknownWorkflowError, match="workflow 'Calls' is not served"):
            await engine.start(CALLS, Doc("x"))
        with pytest.raises(TypeError, match="Ping runs over Doc"):
            await engine.start(PING, Msg("x"))  # type: ignore[misc]
        serving = asyncio.create_task(engine.run())
        await asyncio.sleep(0.02)
        with pytest.raises(EngineError, match="already running"):
            await engine.run()
        with pytest.raises(EngineError, match="already running"):
            engine.subscribe(REQUESTS, lambda m: asyncio.sleep(0))
        engine.shutdown()
        await serving


def test_a_kafka_url_needs_a_store() -> None:
    with pytest.raises(UrlError, match="broker only"):
        Engine("kafka://127.0.0.1:9092", workflows=[PING])
    with pytest.raises(UrlError, match="scheme must be one of"):
        Engine("postgres://x", workflows=[PING])


async def test_runs_of_workflows_it_does_not_serve_are_left_alone(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'mixed.db'}"
    async with Engine(url, workflows=[CALLS]) as client:
        run = await client.start(CALLS, Doc("other"))  # owes a call; announced on the hand-off
    async with Engine(url, workflows=[PING]) as worker:  # serves another workflow only
        await worker.run(until_idle=True)
    async with Engine(url, workflows=[CALLS]) as owner:
        await owner.run(until_idle=True)
        status = await owner.status(run.id)
    assert status is not None and status.status is Status.COMPLETED


async def test_a_run_recorded_by_another_version_is_reported_not_crashed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'versions.db'}"
    async with Engine(url, workflows=[PING]) as engine:
        run = await engine.start(PING, Doc("old"))
    recompiled = evolve(PING, version="v2")  # the workflow was rebuilt since the run started
    async with Engine(url, workflows=[recompiled]) as engine:
        with pytest.raises(UnreadableRunError) as caught:
            await engine.status(run.id)
    message = str(caught.value)
    assert "Ping version v1" in message and "Ping version v2" in message, message
