"""The Aerospike store's correlation index and timers, kept in the instance set.

Written with the record (`IndexingStore.put_indexed`, what the engine does), they are bins of the
instance record itself, so they change in the same atomic write as its state:

- `waits` a list of `topic<US>key` strings (a list index finds every instance waiting on one);
- `tdue`  a map timer id -> due time in whole milliseconds (a map-values index finds what is due);
- `tdf`   a map timer id -> the exact due time (comparisons use it).

Written on their own (`add_wait`, `add_timer`), each is a small record of the same set with the
same bins and the instance id in `iid`, under a key no instance id starts with, so one query finds
both kinds. A removal removes both; a hot key with tens of thousands of waiters is tens of thousands
of records found through the index, never one giant record.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import aerospike
from aerospike import predicates
from aerospike_helpers import expressions as exp
from aerospike_helpers.batch import records as br
from aerospike_helpers.operations import list_operations as lops
from aerospike_helpers.operations import map_operations as mops

from runtime.backends.aerospike_conn import Connection, Row
from runtime.types import AddWait, DueTimer, IndexEffect, RemoveWait, SetTimer

SEP = "\x1f"
LOW, HIGH = -(2**62), 2**62
_NEAR = 5.0  # next_due asks the index for timers due this soon on every call...
_FAR_CACHE = 1.0  # ...and looks further at most this often
_UNIQUE = {"write_flags": aerospike.LIST_WRITE_ADD_UNIQUE | aerospike.LIST_WRITE_NO_FAIL}
_GONE = frozenset({2, 27})  # record not found; filtered out (it held no such entry)


def ms(seconds: float) -> int:
    """Index value of a time: whole milliseconds, rounded down, so `a <= b` gives `ms(a) <= ms(b)`;
    exact comparisons use the float kept beside it."""
    return math.floor(seconds * 1000.0)


def index_ops(index: Sequence[IndexEffect]) -> list[dict[str, Any]]:
    """The operations that apply `index`, in order, to an instance record."""
    out: list[dict[str, Any]] = []
    for e in index:
        if isinstance(e, AddWait):
            out.append(lops.list_append("waits", _tk(e.topic, e.key), _UNIQUE))
        elif isinstance(e, RemoveWait):
            out.append(_unwait(_tk(e.topic, e.key)))
        elif isinstance(e, SetTimer):
            out.append(mops.map_put("tdue", e.timer_id, ms(e.due)))
            out.append(mops.map_put("tdf", e.timer_id, float(e.due)))
        else:
            out.extend(_untime(e.timer_id))
    return out


class Correlation:
    """Waits and timers over one connection."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._far: tuple[float, float | None] | None = None  # (looked at, earliest timer)

    def timer_set(self) -> None:
        """A timer was set: the next `next_due` looks at every timer again."""
        self._far = None

    # ------------------------------------------------------------------ waits

    async def add_wait(self, topic: str, key: str, instance_id: str) -> None:
        tk = _tk(topic, key)
        bins = {"iid": instance_id, "waits": [tk]}
        await self._conn.replace("inst", f"{SEP}w{SEP}{tk}{SEP}{instance_id}", bins)

    async def remove_wait(self, topic: str, key: str, instance_id: str) -> None:
        tk = _tk(topic, key)
        held = exp.GT(
            exp.ListGetByValue(None, aerospike.LIST_RETURN_COUNT, tk, exp.ListBin("waits")), 0
        )
        await self._remove_both(
            f"removing wait {tk!r} of {instance_id}",
            f"{SEP}w{SEP}{tk}{SEP}{instance_id}",
            instance_id,
            [_unwait(tk)],
            exp.And(exp.BinExists("waits"), held),
        )

    async def waiters(self, topic: str, key: str) -> Sequence[str]:
        match = predicates.contains("waits", aerospike.INDEX_TYPE_LIST, _tk(topic, key))
        rows = await self._conn.query("inst", match, "id", "iid")
        return sorted({_owner(r) for r in rows})

    # ------------------------------------------------------------------ timers

    async def add_timer(self, timer: DueTimer) -> None:
        tid = timer.timer_id
        bins = {"iid": timer.instance_id, "tdue": {tid: ms(timer.due)}, "tdf": {tid: timer.due}}
        self._far = None
        await self._conn.replace("inst", f"{SEP}t{SEP}{timer.instance_id}{SEP}{tid}", bins)

    async def remove_timer(self, instance_id: str, timer_id: str) -> None:
        count = exp.MapGetByKey(
            None, aerospike.MAP_RETURN_COUNT, exp.ResultType.INTEGER, timer_id, exp.MapBin("tdf")
        )
        await self._remove_both(
            f"removing timer {timer_id!r} of {instance_id}",
            f"{SEP}t{SEP}{instance_id}{SEP}{timer_id}",
            instance_id,
            _untime(timer_id),
            exp.And(exp.BinExists("tdf"), exp.GT(count, 0)),
        )

    async def due_timers(self, now: float, limit: int) -> Sequence[DueTimer]:
        due = predicates.range("tdue", aerospike.INDEX_TYPE_MAPVALUES, LOW, ms(now))
        found: dict[tuple[str, str], float] = {}
        for row in await self._conn.query("inst", due, "id", "iid", "tdf"):
            iid = _owner(row)
            for tid, at in dict(row.bins.get("tdf") or {}).items():
                if float(at) <= now:
                    slot = (iid, str(tid))
                    found[slot] = min(float(at), found.get(slot, math.inf))
        timers = sorted(
            (DueTimer(i, t, at) for (i, t), at in found.items()),
            key=lambda t: (t.due, t.instance_id, t.timer_id),
        )
        return timers[:limit]

    async def next_due(self) -> float | None:
        """Exact for timers due within `_NEAR` seconds, asked on every call; one due later and
        set by another worker may be seen up to `_FAR_CACHE` seconds late (it is well before it
        comes near)."""
        now = time.time()
        near = await self._earliest(ms(now + _NEAR))
        if near is not None:
            return near
        if self._far is None or now - self._far[0] > _FAR_CACHE:
            self._far = (now, await self._earliest(HIGH))
        return self._far[1]

    async def _earliest(self, until_ms: int) -> float | None:
        match = predicates.range("tdue", aerospike.INDEX_TYPE_MAPVALUES, LOW, until_ms)
        rows = await self._conn.query("inst", match, "tdf")
        dues = [float(at) for r in rows for at in dict(r.bins.get("tdf") or {}).values()]
        return min(dues, default=None)

    # ------------------------------------------------------------------ both kinds

    async def _remove_both(
        self, what: str, own_key: str, instance_id: str, ops: list[dict[str, Any]], held: Any
    ) -> None:
        """Remove an entry from its own record and from the instance record, in one round trip;
        the instance record is written (its generation moves) only when it holds the entry."""
        c = self._conn
        policy = {"exists": aerospike.POLICY_EXISTS_UPDATE, "expressions": held.compile()}
        batch = br.BatchRecords(
            [
                br.Remove(c.key("inst", own_key)),
                br.Write(c.key("inst", instance_id), ops, policy=policy),
            ]
        )
        done = await c.batch(what, c.client.batch_write, batch, 2)
        for r in done.batch_records:
            c.check(what, r.result, _GONE)


def _tk(topic: str, key: str) -> str:
    return f"{topic}{SEP}{key}"


def _owner(row: Row) -> str:
    """The instance a wait or timer belongs to: `iid` in a record of its own, else `id`."""
    return str(row.bins.get("iid") or row.bins["id"])


def _unwait(tk: str) -> dict[str, Any]:
    op: dict[str, Any] = lops.list_remove_by_value("waits", tk, aerospike.LIST_RETURN_NONE)
    return op


def _untime(timer_id: str) -> list[dict[str, Any]]:
    return [
        mops.map_remove_by_key("tdue", timer_id, aerospike.MAP_RETURN_NONE),
        mops.map_remove_by_key("tdf", timer_id, aerospike.MAP_RETURN_NONE),
    ]
