"""The floor of a durable engine on one SQLite file: the raw echo, plus the least state an
engine must keep for it to survive a crash.

The same messages and consumers as `kafka_raw_echo`; in addition each order has one row in a SQLite
file (WAL, synchronous=NORMAL, as dagger's store), written before the messages that depend on it
are produced: inserted, in one transaction for the burst's starts, then updated as each reply
arrives, one transaction per fetched batch, with a compare-and-set on the row's generation (what
lets workers share the file). No reads (the state is the message), no indexes, no outbox, no wait
or timer tables: whatever a real engine does on top of this is its own cost. Held against raw,
this says how much of raw's throughput any durable engine can keep in one Python process here.

    bench.kafka --only raw,durable,orders2     # prints it between raw and dagger
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from bench.contenders.kafka_raw_echo import Echo

_SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    id TEXT PRIMARY KEY, step TEXT NOT NULL, state BLOB NOT NULL, generation INTEGER NOT NULL
) WITHOUT ROWID
"""


class DurableEcho(Echo):
    """`Echo` whose reactor keeps each order's state in `path` (created fresh)."""

    def __init__(self, bootstrap: str, run: str, path: Path) -> None:
        super().__init__(bootstrap, run)
        path.unlink(missing_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = NORMAL")
        self.db.execute(_SCHEMA)
        self.generations: dict[str, int] = {}

    async def close(self) -> None:
        await super().close()
        self.db.close()

    def _started(self, commands: list[tuple[str, bytes]]) -> None:
        rows = [(order, "PAYMENT", value, 1) for order, value in commands]
        with self._transaction():
            self.db.executemany("INSERT OR REPLACE INTO orders VALUES (?, ?, ?, ?)", rows)
        self.generations.update((order, 1) for order, _ in commands)

    def _reacting(self, records: list[Any]) -> None:
        rows = []
        for record in records:
            order = record.key.decode()
            generation = self.generations[order]
            rows.append((record.topic, record.value, generation + 1, order, generation))
            self.generations[order] = generation + 1
        with self._transaction():
            updated = self.db.executemany(
                "UPDATE orders SET step = ?, state = ?, generation = ?"
                " WHERE id = ? AND generation = ?",
                rows,
            ).rowcount
        if updated != len(rows):
            raise RuntimeError(f"{len(rows) - updated} of {len(rows)} rows changed under us")

    def _transaction(self) -> sqlite3.Connection:
        self.db.execute("BEGIN")
        return self.db
