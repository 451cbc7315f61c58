"""What the SQLite file adds to the ports: leases between processes, retention, durability."""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import sys
import time
from pathlib import Path

from runtime import Engine, Status
from runtime.backends.sqlite import SqliteBroker
from runtime.backends.sqlite_db import SqliteDatabase
from runtime.types import Outgoing

from .flows import Doc, call, process, workflow


def lease(db: Path, owner: str, pid: int, expires_at: float) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT OR REPLACE INTO leases (grp, topic, owner, host, pid, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
            ("g", "T", owner, socket.gethostname(), pid, expires_at),
        )


async def read(broker: SqliteBroker) -> list[bytes]:
    consumer = broker.consumer("g", ["T"])
    await consumer.start()
    try:
        return [m.value for m in await consumer.fetch(10, 0.2)]
    finally:
        await consumer.close()


async def test_a_topic_held_by_a_live_process_is_not_read_until_its_lease_ends(
    tmp_path: Path,
) -> None:
    db = tmp_path / "lease.db"
    broker = SqliteBroker(SqliteDatabase(db))
    await broker.start()
    try:
        await broker.send([Outgoing("T", "k", b"m", ())])
        lease(db, "other", os.getppid(), time.time() + 60)  # alive, and not expired
        assert await read(broker) == []
        lease(db, "other", os.getppid(), time.time() - 1)  # expired
        assert await read(broker) == [b"m"]
    finally:
        await broker.close()


async def test_the_lease_of_a_killed_process_is_taken_at_once(tmp_path: Path) -> None:
    db = tmp_path / "lease.db"
    dead = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await dead.wait()
    broker = SqliteBroker(SqliteDatabase(db))
    await broker.start()
    try:
        await broker.send([Outgoing("T", "k", b"m", ())])
        lease(db, "killed", dead.pid, time.time() + 60)
        assert await read(broker) == [b"m"]
    finally:
        await broker.close()


async def test_finished_runs_are_purged_after_their_retention(tmp_path: Path) -> None:
    wf = workflow("Brief", process("P", call(lambda d: d)))
    url = f"sqlite:///{tmp_path / 'purge.db'}"
    async with Engine(url, workflows=[wf], retention=0.2, recover_after=3.0) as engine:
        run = await engine.start(wf, Doc("b"))
        await engine.run(until_idle=True)
        status = await engine.status(run.id)
        assert status is not None and status.status is Status.COMPLETED
        serving = asyncio.create_task(engine.run())
        for _ in range(40):  # housekeeping runs every second here
            if await engine.status(run.id) is None:
                break
            await asyncio.sleep(0.1)
        engine.shutdown()
        await serving
        assert await engine.status(run.id) is None


async def test_two_engines_on_one_file_share_the_work(tmp_path: Path) -> None:
    wf = workflow("Shared", process("P", call(lambda d: d)))
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    async with Engine(url, workflows=[wf]) as one, Engine(url, workflows=[wf]) as two:
        runs = [await one.start(wf, Doc(f"s{i}")) for i in range(20)]
        await asyncio.gather(one.run(until_idle=True), two.run(until_idle=True))
        statuses = [await two.status(r.id) for r in runs]
    assert all(s is not None and s.status is Status.COMPLETED for s in statuses)
