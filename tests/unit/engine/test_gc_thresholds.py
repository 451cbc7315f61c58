"""While an engine runs, the garbage collector runs less often (GC_THRESHOLDS), unless told
otherwise; the thresholds are put back after the last of overlapping runs ends."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime import Engine
from runtime.engine_idle import GC_THRESHOLDS

from .flows import Doc, Msg, command, listen, process, topic, workflow

REQUESTS = topic("REQUESTS")
REPLIES = topic("REPLIES")
PING = workflow("Ping", process("P", command(REQUESTS), listen(REPLIES)))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'gc.db'}"


@pytest.fixture
def thresholds() -> Iterator[tuple[int, int, int]]:
    """The collector's thresholds set to values nobody else uses, and restored after."""
    saved = gc.get_threshold()
    known = (1234, 11, 12)
    gc.set_threshold(*known)
    try:
        yield known
    finally:
        gc.set_threshold(*saved)


async def _thresholds_inside(engine: Engine) -> list[tuple[int, ...]]:
    """The thresholds a service saw while the engine ran a PING."""
    inside: list[tuple[int, ...]] = []

    async def service(m: Msg) -> None:
        inside.append(gc.get_threshold())
        await engine.send(REPLIES, Msg(m.key, "ok"))

    engine.subscribe(REQUESTS, service)
    await engine.start(PING, Doc("g"))
    await engine.run(until_idle=True)
    return inside


async def test_the_collector_runs_less_often_while_an_engine_runs(
    sqlite_url: str, thresholds: tuple[int, int, int]
) -> None:
    async with Engine(sqlite_url, workflows=[PING]) as engine:
        inside = await _thresholds_inside(engine)
        assert gc.get_threshold() == thresholds
    assert inside == [GC_THRESHOLDS]


async def test_chosen_thresholds_apply_and_none_leaves_the_collector_alone(
    sqlite_url: str, thresholds: tuple[int, int, int]
) -> None:
    async with Engine(sqlite_url, workflows=[PING], gc_thresholds=(5000, 5, 5)) as engine:
        chosen = await _thresholds_inside(engine)
        assert gc.get_threshold() == thresholds
    async with Engine("memory://", workflows=[PING], gc_thresholds=None) as engine:
        untouched = await _thresholds_inside(engine)
    assert chosen == [(5000, 5, 5)]
    assert untouched == [thresholds]


async def test_overlapping_runs_of_two_engines_leave_the_collector_as_it_was(
    thresholds: tuple[int, int, int],
) -> None:
    async with (
        Engine("memory://", workflows=[PING], handle_signals=False) as one,
        Engine("memory://", workflows=[PING], handle_signals=False) as two,
    ):
        first = asyncio.create_task(one.run())
        await asyncio.sleep(0.02)
        second = asyncio.create_task(two.run())
        await asyncio.sleep(0.02)
        one.shutdown()
        await asyncio.wait_for(first, 5)
        two.shutdown()
        await asyncio.wait_for(second, 5)
    assert gc.get_threshold() == thresholds
