"""The SQLite file's write-ahead log is copied back into the file while it is open, off the event
loop, and it stays bounded however much is written."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from runtime.backends.sqlite import SqliteBroker
from runtime.backends.sqlite_db import SqliteDatabase
from runtime.backends.sqlite_wal import EVERY_S
from runtime.types import Outgoing

PAGE = 4096
BOUND = 500  # pages; messages of 9 times as much are written
ROUNDS, PER_ROUND, SIZE = 60, 100, 3000  # 18 MB of messages: more than the log's bound


def size(path: Path) -> int:
    return path.stat().st_size


def checkpoint_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("dagger-sqlite-checkpoint")]


async def write(broker: SqliteBroker, rounds: int, wal: Path) -> int:
    """Send `rounds` batches of messages; returns the largest the log grew."""
    largest = 0
    for r in range(rounds):
        batch = [Outgoing("T", f"k{r}-{i}", bytes([r]) * SIZE, ()) for i in range(PER_ROUND)]
        await broker.send(batch)
        largest = max(largest, size(wal))
    return largest


async def test_commits_reach_the_file_without_waiting_for_more_commits(tmp_path: Path) -> None:
    """2 MB: under the 1,000 pages at which SQLite would checkpoint inside a commit by itself."""
    path = tmp_path / "wal.db"
    broker = SqliteBroker(SqliteDatabase(path))
    await broker.start()
    try:
        await write(broker, 7, tmp_path / "wal.db-wal")
        await asyncio.sleep(EVERY_S * 4)  # a few of the thread's ticks, no commit meanwhile
        in_file = size(path)
    finally:
        await broker.close()
    assert in_file > 7 * PER_ROUND * SIZE


async def test_the_log_stays_bounded_and_is_folded_in_at_close(tmp_path: Path) -> None:
    path, wal = tmp_path / "wal.db", tmp_path / "wal.db-wal"
    broker = SqliteBroker(SqliteDatabase(path, log_bound_pages=BOUND))
    await broker.start()
    try:
        largest = await write(broker, ROUNDS, wal)
    finally:
        await broker.close()
    print(f"largest log {largest / (PAGE + 24):.0f} pages")
    assert largest <= 3 * BOUND * (PAGE + 24)
    assert not wal.exists() or size(wal) == 0  # the last connection folded it in
    assert size(path) > ROUNDS * PER_ROUND * SIZE


async def test_closing_stops_the_checkpoint_thread(tmp_path: Path) -> None:
    before = len(checkpoint_threads())
    database = SqliteDatabase(tmp_path / "t.db")
    database.open()
    assert len(checkpoint_threads()) == before + 1
    database.open()  # a second user of the same connection: still one thread
    assert len(checkpoint_threads()) == before + 1
    database.close()
    assert len(checkpoint_threads()) == before + 1
    database.close()
    assert len(checkpoint_threads()) == before
