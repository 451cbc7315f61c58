"""The SQLite broker: a message log table, committed offsets and consumer-group leases.

Each topic has one partition (0); offsets are the log's sequence numbers (increasing, with gaps
between topics). Within a consumer group one member at a time reads a topic: it holds a lease that it
renews while it fetches; another member takes over when the lease expires, when the holder closes,
or at once when the holder was a process on this host that no longer exists (a worker killed with
-9 and restarted). A new group starts at the earliest message. Consumers wake at once for sends made
in this process and poll for other processes' sends, every 2 ms right after activity and backing off
to 100 ms when idle.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Sequence

import orjson

from runtime.backends.sqlite_db import SqliteDatabase, path_from_url
from runtime.types import Incoming, Outgoing

LEASE_SECONDS = 10.0
_POLL_MIN = 0.002
_POLL_MAX = 0.1


def _encode_headers(headers: tuple[tuple[str, bytes], ...]) -> bytes:
    return orjson.dumps([[k, v.decode("latin-1")] for k, v in headers])


def _decode_headers(data: object) -> tuple[tuple[str, bytes], ...]:
    pairs = orjson.loads(data if isinstance(data, bytes) else b"[]")
    return tuple((str(k), str(v).encode("latin-1")) for k, v in pairs)


def _incoming(topic: str, row: tuple[object, ...]) -> Incoming:
    seq, key, value, headers = row
    assert isinstance(seq, int) and isinstance(value, bytes)
    return Incoming(topic, str(key), value, _decode_headers(headers), 0, seq)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class SqliteBroker:
    """`sqlite:///path.db` as a broker. Old log rows are trimmed on start (`?log_retention=` s)."""

    max_message_bytes: int | None = None

    def __init__(self, db: SqliteDatabase, log_retention: float = 7 * 86400.0) -> None:
        self.db = db
        self._log_retention = log_retention

    @classmethod
    def from_url(cls, url: str, db: SqliteDatabase | None = None) -> SqliteBroker:
        path, options = path_from_url(url)
        retention = float(options.get("log_retention", 7 * 86400.0))
        return cls(db or SqliteDatabase(path), retention)

    async def start(self) -> None:
        self.db.open()
        cutoff = time.time() - self._log_retention
        await self.db.write(lambda c: c.execute("DELETE FROM log WHERE at < ?", (cutoff,)))

    async def close(self) -> None:
        self.db.appended.notify()
        self.db.close()

    async def ensure_topics(self, topics: Sequence[str]) -> None:
        return None  # a topic exists as soon as a message is appended to it

    async def send(self, messages: Sequence[Outgoing]) -> None:
        if not messages:
            return
        now = time.time()
        rows = [(m.topic, m.key, m.value, _encode_headers(m.headers), now) for m in messages]
        await self.db.write(
            lambda c: c.executemany(
                "INSERT INTO log (topic, key, value, headers, at) VALUES (?, ?, ?, ?, ?)", rows
            )
        )
        self.db.appended.notify()

    def consumer(self, group: str, topics: Sequence[str]) -> SqliteConsumer:
        return SqliteConsumer(self.db, group, tuple(topics))


class SqliteConsumer:
    """One member of a consumer group over the log table."""

    def __init__(self, db: SqliteDatabase, group: str, topics: tuple[str, ...]) -> None:
        self._db = db
        self.group = group
        self._topics = topics
        self._owner = uuid.uuid4().hex
        self._host = socket.gethostname()
        self._positions: dict[str, int] = {}  # topics whose lease we hold -> next offset
        self._renew_at = 0.0
        self._interval = _POLL_MIN
        self._closed = False

    async def start(self) -> None:
        self._closed = False
        await self._renew()

    async def _renew(self) -> None:
        now = time.time()
        held = await self._db.write(lambda c: [t for t in self._topics if self._claim(c, t, now)])
        for topic in list(self._positions):
            if topic not in held:
                del self._positions[topic]
        for topic in held:
            if topic not in self._positions:
                self._positions[topic] = self._committed(topic)
        self._renew_at = now + LEASE_SECONDS / 3

    def _claim(self, c: sqlite3.Connection, topic: str, now: float) -> bool:
        row = c.execute(
            "SELECT owner, host, pid, expires_at FROM leases WHERE grp = ? AND topic = ?",
            (self.group, topic),
        ).fetchone()
        if row is not None:
            owner, host, pid, expires_at = row
            stale = expires_at < now or (host == self._host and not _alive(int(pid)))
            if owner != self._owner and not stale:
                return False
        c.execute(
            "INSERT OR REPLACE INTO leases (grp, topic, owner, host, pid, expires_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (self.group, topic, self._owner, self._host, os.getpid(), now + LEASE_SECONDS),
        )
        return True

    def _committed(self, topic: str) -> int:
        rows = self._db.query(
            "SELECT next FROM offsets WHERE grp = ? AND topic = ?", (self.group, topic)
        )
        return int(str(rows[0][0])) if rows else 0

    def _poll(self, max_records: int) -> list[Incoming]:
        found: list[Incoming] = []
        for topic, position in self._positions.items():
            rows = self._db.query(
                "SELECT seq, key, value, headers FROM log WHERE topic = ? AND seq >= ?"
                " ORDER BY seq LIMIT ?",
                (topic, position, max_records - len(found)),
            )
            found.extend(_incoming(topic, row) for row in rows)
            if rows:
                self._positions[topic] = found[-1].offset + 1
            if len(found) >= max_records:
                break
        return found

    async def fetch(self, max_records: int, timeout: float) -> Sequence[Incoming]:
        deadline = time.monotonic() + timeout
        while not self._closed:
            if time.time() >= self._renew_at:
                await self._renew()
            found = self._poll(max_records)
            remaining = deadline - time.monotonic()
            if found:
                self._interval = _POLL_MIN
                return found
            if remaining <= 0:
                return found
            await self._db.appended.wait(min(self._interval, remaining))
            self._interval = min(self._interval * 2, _POLL_MAX)
        return []

    async def commit(self, records: Sequence[Incoming]) -> None:
        last: dict[str, int] = {}
        for r in records:
            last[r.topic] = max(last.get(r.topic, -1), r.offset)
        if not last:
            return
        rows = [(self.group, topic, offset + 1) for topic, offset in last.items()]
        await self._db.write(
            lambda c: c.executemany(
                "INSERT INTO offsets (grp, topic, next) VALUES (?, ?, ?)"
                " ON CONFLICT (grp, topic) DO UPDATE SET next = max(next, excluded.next)",
                rows,
            )
        )

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._positions.clear()
        await self._db.write(
            lambda c: c.execute(
                "DELETE FROM leases WHERE grp = ? AND owner = ?", (self.group, self._owner)
            )
        )
