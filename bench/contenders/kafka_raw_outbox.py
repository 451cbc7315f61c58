"""The floor of a durable engine with an outbox, on one SQLite file: `kafka_raw_durable` plus what
lets such an engine promise its sends after a crash.

The same messages and consumers as `kafka_raw_echo`. Each order's row holds its state (encoded
from a dict each step, as an engine encodes a typed state), the messages that step owes (its
outbox) and a generation. A fetched batch's rows are written in one transaction with a
compare-and-set, then its messages are produced, and once Kafka has acknowledged them the
outboxes are cleared in one more transaction (a compare-and-set again), before the offsets are
committed. A crash before the clear leaves the messages in the rows, to be sent again with their
ids; after it, nothing is owed. That is dagger's promise for one step, written by hand for this
one workflow: no machine, no node runs, no index, no observers, no reads (the generations are kept
in memory). What dagger spends beyond this is the cost of being a general engine.

    bench.kafka --only raw,durable,outbox,orders2     # prints it between durable and dagger
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from bench.contenders.kafka_raw_durable import DurableEcho

_SCHEMA = """
CREATE TABLE IF NOT EXISTS owed (
    id TEXT PRIMARY KEY, state BLOB NOT NULL, outbox BLOB, generation INTEGER NOT NULL
) WITHOUT ROWID
"""


class OutboxEcho(DurableEcho):
    """`DurableEcho` whose rows also carry the step's outbox, cleared once its sends are acked."""

    def __init__(self, bootstrap: str, run: str, path: Path) -> None:
        super().__init__(bootstrap, run, path)
        self.db.execute(_SCHEMA)
        self.states: dict[str, dict[str, Any]] = {}

    def _started(self, commands: list[tuple[str, bytes]]) -> None:
        rows = [(order, self._first_state(order), command, 1) for order, command in commands]
        with self._transaction():
            self.db.executemany("INSERT OR REPLACE INTO owed VALUES (?, ?, ?, ?)", rows)
        self.generations.update((order, 1) for order, _ in commands)

    def _sent_starts(self, commands: list[tuple[str, bytes]]) -> None:
        self._clear([order for order, _ in commands])

    def _reacting(self, records: list[Any]) -> None:
        rows = []
        for record in records:
            order = record.key.decode()
            state, outbox = self._step(record, order)
            rows.append((state, outbox, *self._next_generation(order)))
        self._compare_and_set(
            "UPDATE owed SET state = ?, outbox = ?, generation = ? WHERE id = ? AND generation = ?",
            rows,
        )

    def _sent(self, records: list[Any]) -> None:
        self._clear([r.key.decode() for r in records if r.topic == self.topics.payment_listener])

    def _clear(self, orders: list[str]) -> None:
        rows = [self._next_generation(order) for order in orders]
        self._compare_and_set(
            "UPDATE owed SET outbox = NULL, generation = ? WHERE id = ? AND generation = ?", rows
        )

    def _first_state(self, order: str) -> bytes:
        """The encoded state an order starts with."""
        state = self.states[order] = {
            "order_id": order,
            "amount_cents": 1250,
            "paid": False,
            "tracking": "",
        }
        return orjson.dumps(state)

    def _step(self, record: Any, order: str) -> tuple[bytes, bytes | None]:
        """A reply folded into its order's state: (the new state encoded, the command it owes)."""
        event = orjson.loads(record.value)
        state = self.states[order]
        outbox = None
        if record.topic == self.topics.payment_listener:
            state["paid"] = event["ok"]
            outbox = orjson.dumps([{"order_id": order, "address": "1 Main St"}])
        else:
            state["tracking"] = event["tracking"]
        return orjson.dumps(state), outbox

    def _next_generation(self, order: str) -> tuple[int, str, int]:
        """(new generation, order, expected generation) for a compare-and-set of its row."""
        generation = self.generations[order]
        self.generations[order] = generation + 1
        return generation + 1, order, generation

    def _compare_and_set(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        """`sql` for every row in one transaction; each must find its row at its generation."""
        with self._transaction():
            updated = self.db.executemany(sql, rows).rowcount
        if updated != len(rows):
            raise RuntimeError(f"{len(rows) - updated} of {len(rows)} rows changed under us")
