"""A store that does not answer for a while (`Unavailable`: Aerospike timing out, its client
lost sight of the cluster): the engine's loops wait and try again instead of stopping, and the
runs complete once it answers. The failures are injected into the real store of each backend."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from attrs import evolve

from runtime import Engine, Status, Unavailable

from .flows import Doc, Msg, call, command, listen, process, topic, workflow

REQUESTS = topic("AWAY_REQUESTS")
REPLIES = topic("AWAY_REPLIES")
PING = workflow("AwayPing", process("P", command(REQUESTS), listen(REPLIES)))


ARMED: list[Away] = []  # the Away a running call arms


def counted(doc: Doc) -> Doc:
    for away in ARMED:
        away.arm()  # its result will find the store away
    return evolve(doc, n=doc.n + 1)


COUNT = workflow("AwayCount", process("P", call(counted)))


class Away:
    """Makes the store's reads raise `Unavailable` `times` times once `arm()` is called."""

    def __init__(self, engine: Engine, monkeypatch: pytest.MonkeyPatch, times: int) -> None:
        self.left = 0
        self.times = times
        self.failed = 0
        for name in ("get", "get_many"):
            if hasattr(engine.store, name):
                monkeypatch.setattr(engine.store, name, self._wrap(getattr(engine.store, name)))

    def arm(self) -> None:
        self.left = self.times

    def _wrap(self, read: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def reading(*args: Any) -> Any:
            if self.left > 0:
                self.left -= 1
                self.failed += 1
                raise Unavailable("Aerospike at 127.0.0.1:3000: reading failed with TimeoutError")
            return await read(*args)

        return reading


async def test_a_reply_waits_for_the_store_and_its_run_completes(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with Engine(url, workflows=[PING]) as engine:
        away = Away(engine, monkeypatch, times=2)

        async def echo(m: Msg) -> None:
            away.arm()  # the store goes away as the reply is about to be routed
            await engine.send(REPLIES, Msg(m.key, f"ok:{m.key}"))

        engine.subscribe(REQUESTS, echo)
        run = await engine.start(PING, Doc("A1"))
        await engine.run(until_idle=True)
        status = await engine.status(run.id)
    assert away.failed == 2
    assert status is not None and status.status is Status.COMPLETED
    assert status.state == Doc("A1", seen=("ok:A1",))


async def test_a_call_result_waits_for_the_store_and_is_applied_once(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with Engine(url, workflows=[COUNT]) as engine:
        away = Away(engine, monkeypatch, times=2)
        run = await engine.start(COUNT, Doc("C1"))
        monkeypatch.setattr(__name__ + ".ARMED", [away])
        await engine.run(until_idle=True)
        status = await engine.status(run.id)
    assert away.failed == 2
    assert status is not None and status.status is Status.COMPLETED
    assert status.state == Doc("C1", n=1)


async def test_a_worker_that_starts_while_the_store_is_away_waits_for_it(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with Engine(url, workflows=[COUNT]) as engine:
        away = Away(engine, monkeypatch, times=2)
        run = await engine.start(COUNT, Doc("S1"))
        away.arm()  # the first sweep of outboxes, as `run()` begins, finds the store away
        await engine.run(until_idle=True)
        status = await engine.status(run.id)
    assert away.failed == 2
    assert status is not None and status.status is Status.COMPLETED
