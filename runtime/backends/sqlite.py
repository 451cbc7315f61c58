"""`sqlite:///path.db`: the embedded default. One file holds the message log, the instances, the
correlation index, the timers and the early messages (schema and durability: `sqlite_db`).

`open_sqlite(broker_url, store_url)` gives a broker and a store that share one connection when the
URLs name the same file, so a transition and the messages it sends share one group commit.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping, Sequence

from runtime.backends.sqlite_db import SqliteDatabase, path_from_url
from runtime.backends.sqlite_log import SqliteBroker, SqliteConsumer
from runtime.types import (
    AddWait,
    Clear,
    DueTimer,
    EarlyMessage,
    IndexEffect,
    Page,
    Put,
    RemoveWait,
    SetTimer,
    StoredInstance,
    Written,
)

__all__ = ["SqliteBroker", "SqliteConsumer", "SqliteDatabase", "SqliteStore", "open_sqlite"]

_COLUMNS = "id, workflow, status, data, generation, updated_at, outbox, expires_at"


def _num(value: object) -> float:
    if isinstance(value, int | float):
        return float(value)
    raise TypeError(f"expected a number in the SQLite file (got {value!r})")


def _record(row: tuple[object, ...]) -> StoredInstance:
    iid, workflow, status, data, generation, updated_at, outbox, expires_at = row
    return StoredInstance(
        id=str(iid),
        workflow=str(workflow),
        status=str(status),
        data=data if isinstance(data, bytes) else b"",
        generation=int(_num(generation)),
        updated_at=_num(updated_at),
        outbox=bool(outbox),
        expires_at=None if expires_at is None else _num(expires_at),
    )


_ADD_WAIT = "INSERT OR IGNORE INTO waits (topic, key, instance_id) VALUES (?, ?, ?)"
_REMOVE_WAIT = "DELETE FROM waits WHERE topic = ? AND key = ? AND instance_id = ?"
_ADD_TIMER = "INSERT OR REPLACE INTO timers (instance_id, timer_id, due) VALUES (?, ?, ?)"
_REMOVE_TIMER = "DELETE FROM timers WHERE instance_id = ? AND timer_id = ?"
_TAKE_EARLY = (
    "SELECT message_id, value, expires_at FROM early"
    " WHERE topic = ? AND key = ? AND expires_at > ? ORDER BY seq"
)


def _index(c: sqlite3.Connection, iid: str, e: IndexEffect) -> None:
    if isinstance(e, AddWait):
        c.execute(_ADD_WAIT, (e.topic, e.key, iid))
    elif isinstance(e, RemoveWait):
        c.execute(_REMOVE_WAIT, (e.topic, e.key, iid))
    elif isinstance(e, SetTimer):
        c.execute(_ADD_TIMER, (iid, e.timer_id, e.due))
    else:
        c.execute(_REMOVE_TIMER, (iid, e.timer_id))


def _early(rows: list[tuple[object, ...]], topic: str, key: str) -> list[EarlyMessage]:
    return [
        EarlyMessage(topic, key, str(mid), value if isinstance(value, bytes) else b"", _num(e))
        for mid, value, e in rows
    ]


def _values(record: StoredInstance) -> tuple[object, ...]:
    return (
        record.workflow,
        record.status,
        record.data,
        record.updated_at,
        int(record.outbox),
        record.expires_at,
    )


class SqliteStore:
    """The Store port over the shared SQLite file; also an IndexingStore and a BatchStore."""

    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db

    @classmethod
    def from_url(cls, url: str, db: SqliteDatabase | None = None) -> SqliteStore:
        path, _options = path_from_url(url)
        return cls(db or SqliteDatabase(path))

    async def start(self) -> None:
        self.db.open()

    async def close(self) -> None:
        self.db.close()

    # ------------------------------------------------------------------ instances

    async def get(self, instance_id: str) -> StoredInstance | None:
        rows = self.db.query(f"SELECT {_COLUMNS} FROM instances WHERE id = ?", (instance_id,))
        return _record(rows[0]) if rows else None

    async def put(self, record: StoredInstance, expected_generation: int) -> int | None:
        return await self.db.write(lambda c: _put(c, record, expected_generation))

    async def put_indexed(
        self,
        record: StoredInstance,
        expected_generation: int,
        index: Sequence[IndexEffect],
        peek: Sequence[tuple[str, str]] = (),
    ) -> Written:
        """`runtime.types.IndexingStore`: one transaction."""
        return await self.db.write(
            lambda c: _put_indexed(c, record, expected_generation, index, peek)
        )

    async def get_many(self, instance_ids: Sequence[str]) -> Mapping[str, StoredInstance]:
        """`runtime.types.BatchStore`: one query per 500 ids (SQLite's bound on parameters)."""
        found: dict[str, StoredInstance] = {}
        for at in range(0, len(instance_ids), 500):
            chunk = tuple(instance_ids[at : at + 500])
            marks = ", ".join("?" * len(chunk))
            sql = f"SELECT {_COLUMNS} FROM instances WHERE id IN ({marks})"
            for row in self.db.query(sql, chunk):
                rec = _record(row)
                found[rec.id] = rec
        return found

    async def waiters_many(
        self, pairs: Sequence[tuple[str, str]]
    ) -> Mapping[tuple[str, str], Sequence[str]]:
        """`runtime.types.BatchStore`: one query per 250 pairs, joined on the waits' key (a row
        value `IN` list would scan the table)."""
        found: dict[tuple[str, str], list[str]] = {}
        for at in range(0, len(pairs), 250):
            chunk = pairs[at : at + 250]
            wanted = ", ".join("(?, ?)" for _ in chunk)
            sql = (
                f"WITH wanted(topic, key) AS (VALUES {wanted}) SELECT w.topic, w.key,"
                " w.instance_id FROM wanted CROSS JOIN waits w"
                " ON w.topic = wanted.topic AND w.key = wanted.key ORDER BY 1, 2, 3"
            )
            for topic, key, iid in self.db.query(sql, tuple(x for pair in chunk for x in pair)):
                found.setdefault((str(topic), str(key)), []).append(str(iid))
        return found

    async def put_many(self, puts: Sequence[Put]) -> Sequence[Written]:
        """`runtime.types.BatchStore`: one transaction."""

        def run(c: sqlite3.Connection) -> list[Written]:
            kept = _any_kept(c, any(p.peek for p in puts))
            return [
                _put_indexed(c, p.record, p.expected_generation, p.index, p.peek if kept else ())
                for p in puts
            ]

        return await self.db.write(run)

    async def clear_many(self, clears: Sequence[Clear]) -> Sequence[Written]:
        """`runtime.types.BatchStore`: one transaction."""

        def run(c: sqlite3.Connection) -> list[Written]:
            kept = _any_kept(c, any(x.peek for x in clears))
            return [_clear(c, x, kept) for x in clears]

        return await self.db.write(run)

    async def list(
        self, workflow: str | None, status: str | None, limit: int, cursor: str | None
    ) -> Page:
        where, params = ["1 = 1"], []
        for condition, value in (
            ("workflow = ?", workflow),
            ("status = ?", status),
            ("id > ?", cursor),
        ):
            if value is not None:
                where.append(condition)
                params.append(value)
        rows = self.db.query(
            f"SELECT {_COLUMNS} FROM instances WHERE {' AND '.join(where)} ORDER BY id LIMIT ?",
            (*params, limit + 1),
        )
        items = tuple(_record(r) for r in rows[:limit])
        return Page(items, items[-1].id if len(rows) > limit and items else None)

    async def with_outbox(self, limit: int) -> Sequence[str]:
        rows = self.db.query(
            "SELECT id FROM instances WHERE outbox = 1 ORDER BY id LIMIT ?", (limit,)
        )
        return [str(r[0]) for r in rows]

    # ------------------------------------------------------------------ correlation index

    async def add_wait(self, topic: str, key: str, instance_id: str) -> None:
        await self.db.write(lambda c: c.execute(_ADD_WAIT, (topic, key, instance_id)))

    async def remove_wait(self, topic: str, key: str, instance_id: str) -> None:
        await self.db.write(lambda c: c.execute(_REMOVE_WAIT, (topic, key, instance_id)))

    async def waiters(self, topic: str, key: str) -> Sequence[str]:
        rows = self.db.query(
            "SELECT instance_id FROM waits WHERE topic = ? AND key = ? ORDER BY instance_id",
            (topic, key),
        )
        return [str(r[0]) for r in rows]

    # ------------------------------------------------------------------ timers

    async def add_timer(self, timer: DueTimer) -> None:
        t = timer
        await self.db.write(lambda c: c.execute(_ADD_TIMER, (t.instance_id, t.timer_id, t.due)))

    async def remove_timer(self, instance_id: str, timer_id: str) -> None:
        await self.db.write(lambda c: c.execute(_REMOVE_TIMER, (instance_id, timer_id)))

    async def due_timers(self, now: float, limit: int) -> Sequence[DueTimer]:
        rows = self.db.query(
            "SELECT instance_id, timer_id, due FROM timers WHERE due <= ?"
            " ORDER BY due, instance_id, timer_id LIMIT ?",
            (now, limit),
        )
        return [DueTimer(str(i), str(t), _num(d)) for i, t, d in rows]

    async def next_due(self) -> float | None:
        rows = self.db.query("SELECT min(due) FROM timers")
        return None if not rows or rows[0][0] is None else _num(rows[0][0])

    # ------------------------------------------------------------------ early messages

    async def add_early(self, message: EarlyMessage) -> None:
        m = message
        await self.db.write(
            lambda c: c.execute(
                "INSERT OR IGNORE INTO early (topic, key, message_id, value, expires_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (m.topic, m.key, m.message_id, m.value, m.expires_at),
            )
        )

    async def take_early(self, topic: str, key: str) -> Sequence[EarlyMessage]:
        return _early(self.db.query(_TAKE_EARLY, (topic, key, time.time())), topic, key)

    async def remove_early(self, topic: str, key: str, message_id: str) -> None:
        await self.db.write(
            lambda c: c.execute(
                "DELETE FROM early WHERE topic = ? AND key = ? AND message_id = ?",
                (topic, key, message_id),
            )
        )

    async def purge(self, now: float) -> int:
        def run(c: sqlite3.Connection) -> int:
            early = c.execute("DELETE FROM early WHERE expires_at <= ?", (now,)).rowcount
            done = c.execute("DELETE FROM instances WHERE expires_at <= ?", (now,)).rowcount
            return int(early) + int(done)

        return await self.db.write(run)


def _put(c: sqlite3.Connection, record: StoredInstance, expected_generation: int) -> int | None:
    """Compare-and-set one record; its new generation, or None."""
    if expected_generation == 0:
        cursor = c.execute(
            "INSERT OR IGNORE INTO instances (workflow, status, data, updated_at, outbox,"
            " expires_at, id, generation) VALUES (?, ?, ?, ?, ?, ?, ?, 1)",
            (*_values(record), record.id),
        )
    else:
        cursor = c.execute(
            "UPDATE instances SET workflow = ?, status = ?, data = ?, updated_at = ?,"
            " outbox = ?, expires_at = ?, generation = generation + 1"
            " WHERE id = ? AND generation = ?",
            (*_values(record), record.id, expected_generation),
        )
    return expected_generation + 1 if cursor.rowcount == 1 else None


def _any_kept(c: sqlite3.Connection, wanted: bool) -> bool:
    """Whether any early message is kept at all (when `wanted`): one query spares a batch one
    look-up per new listener in the usual case, where none is."""
    return wanted and c.execute("SELECT 1 FROM early LIMIT 1").fetchone() is not None


def _clear(c: sqlite3.Connection, clear: Clear, kept: bool) -> Written:
    cursor = c.execute(
        "UPDATE instances SET outbox = 0, generation = generation + 1"
        " WHERE id = ? AND generation = ?",
        (clear.instance_id, clear.generation),
    )
    if cursor.rowcount != 1:
        return Written(None)
    return Written(clear.generation + 1, _peeked(c, clear.peek) if kept else ())


def _peeked(c: sqlite3.Connection, peek: Sequence[tuple[str, str]]) -> tuple[EarlyMessage, ...]:
    """The messages kept for each (topic, key) of `peek`, pair after pair."""
    if not peek:
        return ()
    now = time.time()
    return tuple(
        m
        for topic, key in peek
        for m in _early(c.execute(_TAKE_EARLY, (topic, key, now)).fetchall(), topic, key)
    )


def _put_indexed(
    c: sqlite3.Connection,
    record: StoredInstance,
    expected_generation: int,
    index: Sequence[IndexEffect],
    peek: Sequence[tuple[str, str]],
) -> Written:
    generation = _put(c, record, expected_generation)
    if generation is None:
        return Written(None)
    for e in index:
        _index(c, record.id, e)
    return Written(generation, _peeked(c, peek))


def open_sqlite(broker_url: str, store_url: str) -> tuple[SqliteBroker, SqliteStore]:
    """A broker and a store over one connection when both URLs name the same file."""
    broker_path, _ = path_from_url(broker_url)
    store_path, _ = path_from_url(store_url)
    broker = SqliteBroker.from_url(broker_url)
    same = broker_path.resolve() == store_path.resolve()
    store = SqliteStore(broker.db) if same else SqliteStore.from_url(store_url)
    return broker, store
