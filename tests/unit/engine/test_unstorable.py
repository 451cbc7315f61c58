"""A transition whose new state the codec refuses (an int beyond 64 bits, a lone surrogate in a
str): the run ends FAILED saying why, with the state it had, and the engine goes on. Before, the
error escaped the step, the engine stopped, and a restarted worker met the same message again."""

from __future__ import annotations

from pathlib import Path

import pytest
from attrs import evolve

from examples.orders import Order, OrderId
from generated.orders import OrderWorkflow
from runtime import EncodeError, Engine, Status

from .flows import Doc, Msg, call, command, listen, process, topic, workflow

REQUESTS = topic("REQUESTS")
REPLIES = topic("REPLIES")
BAD = {"huge int": {"n": 10**30}, "lone surrogate": {"seen": ("\ud800",)}}


def spoil(d: Doc, m: Msg) -> Doc:
    """Folds a reply in, as the user's `on` does; the reply "bad:<how>" spoils the state."""
    how = m.text.removeprefix("bad:")
    return evolve(d, **BAD[how]) if how in BAD else evolve(d, seen=(*d.seen, m.text))  # type: ignore[arg-type]


PING = workflow("Ping", process("P", command(REQUESTS), listen(REPLIES, on=spoil)))


@pytest.mark.parametrize("how", list(BAD))
@pytest.mark.parametrize("runs", [1, 4], ids=["alone", "in_a_batch"])
async def test_a_reply_that_spoils_the_state_fails_its_run_only(
    url: str, how: str, runs: int
) -> None:
    async with Engine(url, workflows=[PING]) as engine:
        started = [await engine.start(PING, Doc(f"k{i}")) for i in range(runs)]
        for i in range(runs):
            text = f"bad:{how}" if i == 0 else "fine"
            await engine.send(REPLIES, Msg(f"k{i}", text), message_id=f"reply-{i}")
        await engine.run(until_idle=True)  # returns: the engine did not stop
        statuses = [await engine.status(r.id) for r in started]
    spoiled, *others = statuses
    assert spoiled is not None and spoiled.status is Status.FAILED
    assert spoiled.state == Doc("k0")  # as it was before the reply
    assert spoiled.error is not None
    assert spoiled.error.startswith("the state after the REPLIES message reply-0 cannot be stored")
    assert ("Integer exceeds 64-bit range" if how == "huge int" else "surrogates") in spoiled.error
    assert [s.status if s else None for s in others] == [Status.COMPLETED] * (runs - 1)


def huge(d: Doc) -> Doc:
    return evolve(d, n=10**30)


async def test_a_call_result_that_spoils_the_state_fails_the_run(url: str) -> None:
    wf = workflow("Calls", process("P", call(huge)))
    async with Engine(url, workflows=[wf]) as engine:
        run = await engine.start(wf, Doc("c"))
        await engine.run(until_idle=True)
        status = await engine.status(run.id)
    assert status is not None and status.status is Status.FAILED and status.state == Doc("c")
    assert status.error is not None and "cannot be stored: TypeError: Integer" in status.error


async def test_starting_with_a_state_that_cannot_be_stored_is_refused(url: str) -> None:
    async with Engine(url, workflows=[PING]) as engine:
        with pytest.raises(EncodeError, match="state of run Ping:big cannot be stored: TypeError"):
            await engine.start(PING, Doc("big", n=2**64))
        assert await engine.status("Ping:big") is None
        fine = await engine.start(PING, Doc("fine", n=2**63 - 1))
        assert fine.created


async def test_a_float_without_a_json_form_is_refused_at_start(tmp_path: Path) -> None:
    placed = Order(OrderId("nan"), 1250, "ann", placed_at=float("nan"))
    async with Engine(f"sqlite:///{tmp_path / 'nan.db'}", workflows=[OrderWorkflow]) as engine:
        with pytest.raises(EncodeError, match="OrderWorkflow:nan cannot be stored: ValueError"):
            await engine.start(OrderWorkflow, placed)
        assert await engine.status("OrderWorkflow:nan") is None
