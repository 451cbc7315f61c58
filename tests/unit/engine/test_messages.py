"""Commands and listeners through the Engine API: correlation, early messages, one-to-many,
re-keying, idempotent start, dead letters."""

from __future__ import annotations

from collections.abc import Sequence

import orjson
import pytest
from attrs import evolve

from runtime import Engine, SendFailed, Status
from runtime.types import MESSAGE_ID_HEADER, Outgoing

from .flows import Doc, Msg, command, listen, process, topic, workflow

REQUESTS = topic("REQUESTS")
REPLIES = topic("REPLIES")
PING = workflow("Ping", process("P", command(REQUESTS), listen(REPLIES)))


def echo(engine: Engine, seen: list[Msg]) -> None:
    """A service: answers every request on REPLIES with text 'ok:<key>'."""

    async def handler(m: Msg) -> None:
        seen.append(m)
        await engine.send(REPLIES, Msg(m.key, f"ok:{m.key}"))

    engine.subscribe(REQUESTS, handler)


async def test_command_then_listen_completes_with_the_reply(url: str) -> None:
    async with Engine(url, workflows=[PING]) as engine:
        seen: list[Msg] = []
        echo(engine, seen)
        run = await engine.start(PING, Doc("A1"))
        assert run.id == "Ping:A1" and run.created
        await engine.run(until_idle=True)
        status = await engine.status(run.id)
    assert status is not None
    assert status.status is Status.COMPLETED
    assert status.state == Doc("A1", seen=("ok:A1",))
    assert seen == [Msg("A1")]
    assert [n.status for n in status.nodes] == [Status.COMPLETED] * 4
    assert [n.kind for n in status.nodes] == ["sequence", "process", "command", "listen"]
    assert all(n.started_at is not None and n.ended_at is not None for n in status.nodes)
    assert status.pending_effects == 0


async def test_start_is_idempotent_by_key(url: str) -> None:
    async with Engine(url, workflows=[PING]) as engine:
        seen: list[Msg] = []
        echo(engine, seen)
        first = await engine.start(PING, Doc("K"))
        again = await engine.start(PING, Doc("K", n=99))
        await engine.run(until_idle=True)
        after = await engine.start(PING, Doc("K", n=7))
        status = await engine.status(first.id)
    assert (first.id, first.created) == ("Ping:K", True)
    assert (again.id, again.created) == ("Ping:K", False)
    assert not after.created
    assert status is not None and status.state.n == 0 and status.status is Status.COMPLETED
    assert seen == [Msg("K")]


async def test_a_message_before_its_listener_is_kept_and_delivered(url: str) -> None:
    async with Engine(url, workflows=[PING]) as engine:
        await engine.send(REPLIES, Msg("E1", "early"))
        await engine.run(until_idle=True)  # consumed and kept: nobody waits yet
        run = await engine.start(PING, Doc("E1"))
        await engine.run(until_idle=True)
        status = await engine.status(run.id)
        assert list(await engine.store.take_early("REPLIES", "E1")) == []
    assert status is not None and status.status is Status.COMPLETED
    assert status.state.seen == ("early",)


async def test_one_message_completes_every_run_waiting_on_its_key(url: str) -> None:
    boxed = workflow("Boxed", process("P", listen(REPLIES, match=lambda d: d.box)))
    async with Engine(url, workflows=[boxed]) as engine:
        runs = [await engine.start(boxed, Doc(f"o{i}", box="B7")) for i in range(3)]
        other = await engine.start(boxed, Doc("o9", box="B8"))
        await engine.run(until_idle=True)
        await engine.send(REPLIES, Msg("B7", "packed"))
        await engine.run(until_idle=True)
        statuses = [await engine.status(r.id) for r in runs]
        waiting = await engine.status(other.id)
    assert all(s is not None and s.status is Status.COMPLETED for s in statuses)
    assert all(s is not None and s.state.seen == ("packed",) for s in statuses)
    assert waiting is not None and waiting.status is Status.EXECUTING


async def test_a_listener_keyed_by_state_follows_a_new_key(url: str) -> None:
    def rekey(d: Doc, m: Msg) -> Doc:
        return evolve(d, box=m.text, seen=(*d.seen, m.text))

    wf = workflow(
        "Rekey",
        process(
            "P",
            listen(REPLIES, match=lambda d: d.box, on=rekey),
            listen(REPLIES, match=lambda d: d.box),
        ),
    )
    async with Engine(url, workflows=[wf]) as engine:
        run = await engine.start(wf, Doc("r", box="first"))
        await engine.send(REPLIES, Msg("first", "second"))
        await engine.run(until_idle=True)
        await engine.send(REPLIES, Msg("first", "stale"))  # the old key no longer matters
        await engine.run(until_idle=True)
        middle = await engine.status(run.id)
        await engine.send(REPLIES, Msg("second", "done"))
        await engine.run(until_idle=True)
        end = await engine.status(run.id)
    assert middle is not None and middle.status is Status.EXECUTING
    assert end is not None and end.status is Status.COMPLETED
    assert end.state.seen == ("second", "done")


async def test_undecodable_messages_go_to_the_dead_letter_topic(url: str) -> None:
    async with Engine(url, workflows=[PING]) as engine:
        dead: list[bytes] = []
        headers: list[dict[str, bytes]] = []
        consumer = engine.broker.consumer("test-dlq", ["REPLIES.dead-letter"])
        await engine.broker.send(
            [
                Outgoing("REPLIES", "x", b"\xff not json", ((MESSAGE_ID_HEADER, b"bad-1"),)),
                Outgoing("REPLIES", "y", orjson.dumps({"nokey": 1}), ()),
            ]
        )
        seen: list[Msg] = []
        echo(engine, seen)
        run = await engine.start(PING, Doc("fine"))
        await engine.run(until_idle=True)
        await consumer.start()
        for rec in await consumer.fetch(10, 1.0):
            dead.append(rec.value)
            headers.append(dict(rec.headers))
        await consumer.close()
        status = await engine.status(run.id)
    assert dead == [b"\xff not json", orjson.dumps({"nokey": 1})]
    assert headers[0][MESSAGE_ID_HEADER] == b"bad-1"
    assert headers[0]["dagger-source-topic"] == b"REPLIES"
    assert headers[0]["dagger-error"].startswith(b"cannot decode a REPLIES message")
    assert headers[1][MESSAGE_ID_HEADER].startswith(b"REPLIES/0/")
    assert status is not None and status.status is Status.COMPLETED


async def test_a_subscriber_dead_letters_what_it_cannot_take(url: str) -> None:
    """A service's message that does not decode, or whose handler raises, is kept with the
    reason in `<topic>.dead-letter`; the other messages are handled."""
    handled: list[str] = []

    async def flaky(m: Msg) -> None:
        if m.text == "boom":
            raise RuntimeError(f"cannot serve {m.key}")
        handled.append(m.key)

    async with Engine(url, workflows=[PING]) as engine:
        engine.subscribe(REQUESTS, flaky)
        await engine.broker.send(
            [
                Outgoing("REQUESTS", "a", REQUESTS.encode(Msg("a")), ()),
                Outgoing("REQUESTS", "b", b"\xff not json", ((MESSAGE_ID_HEADER, b"bad-b"),)),
                Outgoing("REQUESTS", "c", REQUESTS.encode(Msg("c", "boom")), ()),
                Outgoing("REQUESTS", "d", REQUESTS.encode(Msg("d")), ()),
            ]
        )
        await engine.run(until_idle=True)
        consumer = engine.broker.consumer("test-dlq", ["REQUESTS.dead-letter"])
        await consumer.start()
        letters = list(await consumer.fetch(10, 1.0))
        await consumer.close()
    assert sorted(handled) == ["a", "d"]
    reasons = {r.key: (r.header("dagger-error") or b"").decode() for r in letters}
    assert sorted(reasons) == ["b", "c"]
    assert reasons["b"].startswith("cannot decode a REQUESTS message")
    assert reasons["c"] == "the handler of REQUESTS raised RuntimeError: cannot serve c"
    assert [r.header(MESSAGE_ID_HEADER) for r in letters if r.key == "b"] == [b"bad-b"]


async def test_a_subscriber_whose_send_fails_for_now_runs_again_and_dead_letters_nothing(
    url: str,
) -> None:
    """A handler raising `SendFailed` (its `engine.send` found the broker down) runs again after
    a pause, and its message is neither dead-lettered nor skipped: the run it answers completes."""
    tries: list[str] = []

    async def down_twice(m: Msg) -> None:
        tries.append(m.key)
        if len(tries) <= 2:
            raise SendFailed("Kafka did not take messages for REPLIES: no broker answered")
        await engine.send(REPLIES, Msg(m.key, f"ok:{m.key}"))

    async with Engine(url, workflows=[PING]) as engine:
        engine.subscribe(REQUESTS, down_twice)
        run = await engine.start(PING, Doc("A1"))
        await engine.run(until_idle=True)
        status = await engine.status(run.id)
        consumer = engine.broker.consumer("test-dlq", ["REQUESTS.dead-letter"])
        await consumer.start()
        letters = list(await consumer.fetch(10, 0.2))
        await consumer.close()
    assert tries == ["A1", "A1", "A1"]
    assert letters == []
    assert status is not None and status.status is Status.COMPLETED


async def test_a_dead_letter_the_broker_does_not_take_yet_waits_for_it(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kafka down when a message must be dead-lettered: the letter is sent again after a pause
    (the engine neither stops nor drops it), and the other messages are handled after it."""
    handled: list[str] = []

    async def service(m: Msg) -> None:
        handled.append(m.key)

    async with Engine(url, workflows=[PING]) as engine:
        engine.subscribe(REQUESTS, service)
        send = engine.broker.send
        refused: list[str] = []

        async def down_for_letters(messages: Sequence[Outgoing]) -> None:
            letters = [m.topic for m in messages if m.topic.endswith(".dead-letter")]
            if letters and len(refused) < 2:
                refused.extend(letters)
                raise SendFailed("Kafka did not take messages for REQUESTS.dead-letter: down")
            await send(messages)

        monkeypatch.setattr(engine.broker, "send", down_for_letters)
        await send(
            [
                Outgoing("REQUESTS", "a", b"\xff not json", ((MESSAGE_ID_HEADER, b"bad-a"),)),
                Outgoing("REQUESTS", "a", REQUESTS.encode(Msg("a")), ()),
            ]
        )
        await engine.run(until_idle=True)
        consumer = engine.broker.consumer("test-dlq", ["REQUESTS.dead-letter"])
        await consumer.start()
        letters = list(await consumer.fetch(10, 0.2))
        await consumer.close()
    assert refused == ["REQUESTS.dead-letter", "REQUESTS.dead-letter"]
    assert [r.header(MESSAGE_ID_HEADER) for r in letters] == [b"bad-a"]
    assert handled == ["a"]
