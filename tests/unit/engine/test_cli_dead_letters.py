"""`daggerc dead-letters`: after a deploy, a reply for a run of the earlier build and a malformed
message are dead-lettered; the command lists them with their reasons, and `--replay` sends them
back with their ids, so an engine of the earlier build finishes the step."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from attrs import evolve

from codegen.cli import main
from examples.orders import Order, OrderId
from generated.orders import PAYMENT_LISTENER, OrderWorkflow
from runtime import Engine
from runtime.types import Outgoing

EARLIER = evolve(OrderWorkflow, version="an-earlier-build")
REPLY = '{"order_id": "A1", "ok": true, "box_id": "B1"}'


def daggerc(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def start_on_the_earlier_build(db: str) -> str:
    async with Engine(db, workflows=[EARLIER]) as engine:
        run = await engine.start(EARLIER, Order(OrderId("A1"), 1250, "ann"))
        await engine.run(until_idle=True, max_wait=0)  # it waits for its payment
        return run.id


async def serve(db: str, wf: object = OrderWorkflow, garbage: bool = False) -> None:
    async with Engine(db, workflows=[wf]) as engine:  # type: ignore[list-item]
        if garbage:
            await engine.broker.send([Outgoing(PAYMENT_LISTENER.name, "x", b"\xff nope", ())])
        await engine.run(until_idle=True, max_wait=0)


async def paid(db: str, run_id: str) -> bool:
    async with Engine(db, workflows=[EARLIER]) as engine:
        status = await engine.status(run_id)
    assert status is not None
    state = status.state
    assert isinstance(state, Order)
    return state.paid


def test_dead_letters_are_listed_and_replayed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'deploy.db'}"
    run_id = asyncio.run(start_on_the_earlier_build(db))
    code, _, _ = daggerc(
        capsys, "send", "PAYMENT_LISTENER", "--value", REPLY, "--id", "m-1", "--broker", db
    )
    assert code == 0
    asyncio.run(serve(db, garbage=True))  # the new build takes neither

    code, out, _ = daggerc(capsys, "dead-letters", "PAYMENT_LISTENER", "--broker", db)
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["AT", "KEY", "ID", "REASON"], out
    assert len(lines) == 3, out
    assert "run 'OrderWorkflow:A1' cannot be read" in out and " m-1 " in out
    assert "cannot decode a PAYMENT_LISTENER message" in out
    code, out, _ = daggerc(capsys, "dead-letters", "PAYMENT_LISTENER", "--broker", db, "--json")
    letters = json.loads(out)["letters"]
    assert code == 0 and [(x["key"], x["value"]) for x in letters] == [
        ("A1", json.dumps(json.loads(REPLY), separators=(",", ":"))),
        ("x", "\ufffd nope"),
    ]
    assert "an-earlier-build" in letters[0]["reason"]
    assert letters[1]["source"]["topic"] == "PAYMENT_LISTENER"

    code, out, _ = daggerc(capsys, "dead-letters", "PAYMENT_LISTENER", "--broker", db, "--replay")
    assert code == 0 and out.splitlines() == [
        "replayed 2 message(s) to PAYMENT_LISTENER",
        "1 of them do not decode as PAYMENT_LISTENER messages with this build:"
        " the engine will dead-letter them again",
    ]
    code, out, _ = daggerc(capsys, "dead-letters", "PAYMENT_LISTENER", "--broker", db)
    assert (code, out) == (0, "PAYMENT_LISTENER.dead-letter holds nothing new\n")

    assert not asyncio.run(paid(db, run_id))
    asyncio.run(serve(db, EARLIER))  # a worker of the earlier build takes the replayed reply
    assert asyncio.run(paid(db, run_id))
    code, out, _ = daggerc(capsys, "dead-letters", "PAYMENT_LISTENER", "--broker", db, "--json")
    assert [x["key"] for x in json.loads(out)["letters"]] == ["x"]  # dead-lettered again


def test_bad_arguments_are_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'x.db'}"
    for argv, want in [
        (("dead-letters", "NOPE", "--broker", db), "no workflow of the app uses topic 'NOPE'"),
        (
            ("dead-letters", "PAYMENT_LISTENER", "--limit", "0", "--broker", db),
            "--limit must be at least 1",
        ),
    ]:
        code, out, err = daggerc(capsys, *argv)
        assert (code, out) == (2, "") and err.count("\n") == 1 and want in err, err
