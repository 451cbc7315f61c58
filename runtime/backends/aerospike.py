"""`aerospike://host:port/namespace`: the Store for workers spread over many machines.

Layout, one set per kind of record (all names carry a prefix so deployments can share a
namespace; the connection, retries and indexes are in `aerospike_conn`):

- `<prefix>inst`  one record per instance; compare-and-set by the record generation; finished
  instances get a TTL (retention). Secondary indexes on workflow, status, outbox and expiry.
- `<prefix>wait`  one small record per (topic, key, instance): a hot key with tens of thousands of
  waiters is tens of thousands of small records found through an index, never one giant record.
- `<prefix>timer` one record per timer, found by a range query on its due time (indexed).
- `<prefix>early` one record per kept message, with a TTL for its retention.

`purge` removes what is past its expiry, as the other stores do; the server's TTL (never less than
`min_ttl` seconds after the write) removes it as well when nobody purges. Everything else is
written to never expire, whatever the namespace's default TTL.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Sequence
from typing import Any

import aerospike
import attrs
from aerospike import exception as aex
from aerospike import predicates
from aerospike_helpers import expressions as exp
from aerospike_helpers.operations import operations as ops

from runtime.backends.aerospike_conn import (
    NEVER,
    AerospikeConfig,
    AerospikeStoreError,
    Connection,
    Index,
)
from runtime.types import DueTimer, EarlyMessage, Page, StoredInstance

__all__ = ["AerospikeConfig", "AerospikeStore", "AerospikeStoreError"]

_SEP = "\x1f"
_LOW, _HIGH = -(2**62), 2**62
_KINDS = ("inst", "wait", "timer", "early")
_INDEXES = (
    Index("inst", "wf", "string"),
    Index("inst", "status", "string"),
    Index("inst", "outbox", "numeric"),
    Index("inst", "exp", "numeric"),
    Index("wait", "tk", "string"),
    Index("timer", "due", "numeric"),
    Index("early", "tk", "string"),
    Index("early", "exp", "numeric"),
)
_LOST = (aex.RecordGenerationError, aex.RecordExistsError, aex.RecordNotFound)
_NEAR = 5.0  # next_due asks the index for timers due this soon on every call...
_FAR_CACHE = 1.0  # ...and looks further at most this often


def _ms(seconds: float) -> int:
    """Index value of a time: whole milliseconds, rounded down, so `a <= b` gives `ms(a) <= ms(b)`;
    exact comparisons use the float kept beside it."""
    return math.floor(seconds * 1000.0)


class AerospikeStore:
    """A `runtime.types.Store` over the official client."""

    def __init__(self, config: AerospikeConfig) -> None:
        self.config = config
        sets = {kind: f"{config.prefix}{kind}" for kind in _KINDS}
        self._conn = Connection(config, sets, _INDEXES)
        self._arrivals = itertools.count()
        self._far: tuple[float, float | None] | None = None  # (looked at, earliest timer)

    @classmethod
    def from_url(cls, url: str) -> AerospikeStore:
        return cls(AerospikeConfig.from_url(url))

    @property
    def round_trips(self) -> int:
        """Calls sent to the server so far (retries included), to measure cost per transition."""
        return self._conn.round_trips

    async def start(self, *, prepare: bool = True) -> None:
        """Connect, check the namespace and (unless `prepare` is False) create the indexes.
        Raises AerospikeStoreError naming the server when it cannot."""
        await self._conn.open(prepare=prepare)

    async def close(self) -> None:
        await self._conn.close()

    async def drop(self) -> None:
        """Remove every index and record of this prefix (tests; decommissioning a deployment)."""
        await self._conn.drop()

    def _ttl(self, expires_at: float | None) -> int:
        if expires_at is None:
            return NEVER
        return max(self.config.min_ttl, math.ceil(expires_at - time.time()))

    # ------------------------------------------------------------------ instances

    async def get(self, instance_id: str) -> StoredInstance | None:
        c = self._conn
        try:
            _key, meta, bins = await c.call(
                f"reading instance {instance_id}",
                c.client.get,
                c.key("inst", instance_id),
                expect=(aex.RecordNotFound,),
            )
        except aex.RecordNotFound:
            return None
        return _instance(bins, int(meta["gen"]))

    async def put(self, record: StoredInstance, expected_generation: int) -> int | None:
        c, in_doubt = self._conn, False

        def retried() -> None:
            nonlocal in_doubt
            in_doubt = True  # an attempt that timed out may have been applied

        meta: dict[str, int] = {}
        policy = {"ttl": self._ttl(record.expires_at), "exists": aerospike.POLICY_EXISTS_CREATE}
        if expected_generation != 0:
            meta["gen"] = expected_generation
            policy |= {"gen": aerospike.POLICY_GEN_EQ, "exists": aerospike.POLICY_EXISTS_UPDATE}
        try:
            _key, written, _bins = await c.call(
                f"writing instance {record.id}",
                c.client.operate,
                *(c.key("inst", record.id), _writes(record), meta, policy),
                expect=_LOST,
                retried=retried,
            )
        except _LOST:
            return await self._own_write(record) if in_doubt else None
        return int(written["gen"])

    async def _own_write(self, record: StoredInstance) -> int | None:
        """After a retried write lost: was the write that timed out ours after all?"""
        stored = await self.get(record.id)
        if stored is not None and stored == attrs.evolve(record, generation=stored.generation):
            return stored.generation
        return None

    async def list(
        self, workflow: str | None, status: str | None, limit: int, cursor: str | None
    ) -> Page:
        conditions = [
            exp.Eq(exp.StrBin(name), value)
            for name, value in (("wf", workflow), ("status", status))
            if value is not None
        ]
        if cursor is not None:
            conditions.append(exp.GT(exp.StrBin("id"), cursor))
        predicate = None
        if status is not None:
            predicate = predicates.equals("status", status)
        elif workflow is not None:
            predicate = predicates.equals("wf", workflow)
        where = None
        if conditions:
            where = conditions[0] if len(conditions) == 1 else exp.And(*conditions)
        rows = sorted(
            await self._conn.query("inst", predicate, where=where), key=lambda r: str(r.bins["id"])
        )
        items = tuple(_instance(r.bins, r.gen) for r in rows[:limit])
        return Page(items, items[-1].id if len(rows) > limit and items else None)

    async def with_outbox(self, limit: int) -> Sequence[str]:
        rows = await self._conn.query("inst", predicates.equals("outbox", 1), "id")
        return sorted(str(r.bins["id"]) for r in rows)[:limit]

    # ------------------------------------------------------------------ correlation index

    async def add_wait(self, topic: str, key: str, instance_id: str) -> None:
        tk = f"{topic}{_SEP}{key}"
        await self._conn.replace("wait", f"{tk}{_SEP}{instance_id}", {"tk": tk, "iid": instance_id})

    async def remove_wait(self, topic: str, key: str, instance_id: str) -> None:
        await self._conn.remove("wait", f"{topic}{_SEP}{key}{_SEP}{instance_id}")

    async def waiters(self, topic: str, key: str) -> Sequence[str]:
        match = predicates.equals("tk", f"{topic}{_SEP}{key}")
        return sorted(str(r.bins["iid"]) for r in await self._conn.query("wait", match, "iid"))

    # ------------------------------------------------------------------ timers

    async def add_timer(self, timer: DueTimer) -> None:
        bins = {
            "iid": timer.instance_id,
            "tid": timer.timer_id,
            "due": _ms(timer.due),
            "duef": float(timer.due),
        }
        self._far = None
        await self._conn.replace("timer", f"{timer.instance_id}{_SEP}{timer.timer_id}", bins)

    async def remove_timer(self, instance_id: str, timer_id: str) -> None:
        await self._conn.remove("timer", f"{instance_id}{_SEP}{timer_id}")

    async def due_timers(self, now: float, limit: int) -> Sequence[DueTimer]:
        rows = await self._conn.query("timer", predicates.between("due", _LOW, _ms(now)))
        timers = sorted(
            (t for t in (_timer(r.bins) for r in rows) if t.due <= now),
            key=lambda t: (t.due, t.instance_id, t.timer_id),
        )
        return timers[:limit]

    async def next_due(self) -> float | None:
        """Exact for timers due within `_NEAR` seconds, asked on every call; one due later and
        set by another worker may be seen up to `_FAR_CACHE` seconds late (it is well before it
        comes near)."""
        now = time.time()
        soon = predicates.between("due", _LOW, _ms(now + _NEAR))
        near = await self._conn.query("timer", soon, "duef")
        if near:
            return min(float(r.bins["duef"]) for r in near)
        if self._far is None or now - self._far[0] > _FAR_CACHE:
            rows = await self._conn.query("timer", predicates.between("due", _LOW, _HIGH), "duef")
            self._far = (now, min((float(r.bins["duef"]) for r in rows), default=None))
        return self._far[1]

    # ------------------------------------------------------------------ early messages

    async def add_early(self, message: EarlyMessage) -> None:
        tk = f"{message.topic}{_SEP}{message.key}"
        bins = {
            "tk": tk,
            "mid": message.message_id,
            "val": bytearray(message.value),
            "exp": _ms(message.expires_at),
            "expf": float(message.expires_at),
            "at": time.time_ns(),  # arrival order across workers, as far as clocks agree
            "seq": next(self._arrivals),  # and exactly within this one
        }
        user_key = f"{tk}{_SEP}{message.message_id}"
        await self._conn.create("early", user_key, bins, self._ttl(message.expires_at))

    async def take_early(self, topic: str, key: str) -> Sequence[EarlyMessage]:
        rows = await self._conn.query("early", predicates.equals("tk", f"{topic}{_SEP}{key}"))
        now = time.time()
        kept = sorted(
            (r.bins for r in rows if r.bins["expf"] > now), key=lambda b: (b["at"], b["seq"])
        )
        return [
            EarlyMessage(topic, key, str(b["mid"]), bytes(b["val"]), float(b["expf"])) for b in kept
        ]

    async def remove_early(self, topic: str, key: str, message_id: str) -> None:
        await self._conn.remove("early", f"{topic}{_SEP}{key}{_SEP}{message_id}")

    async def purge(self, now: float) -> int:
        c, past = self._conn, predicates.between("exp", _LOW, _ms(now))
        gone = [
            r.key
            for kind in ("early", "inst")
            for r in await c.query(kind, past, "expf")
            if float(r.bins["expf"]) <= now
        ]
        if not gone:
            return 0
        result = await c.call("purging expired records", c.client.batch_remove, gone)
        return sum(1 for r in result.batch_records if r.result == 0)


def _writes(record: StoredInstance) -> list[Any]:
    expires = record.expires_at
    bins: dict[str, Any] = {
        "id": record.id,
        "wf": record.workflow,
        "status": record.status,
        "data": bytearray(record.data),
        "upd": float(record.updated_at),
        "outbox": int(record.outbox),
        "exp": aerospike.null() if expires is None else _ms(expires),  # null removes the bin
        "expf": aerospike.null() if expires is None else float(expires),
    }
    return [ops.write(name, value) for name, value in bins.items()]


def _instance(bins: dict[str, Any], generation: int) -> StoredInstance:
    expires = bins.get("expf")
    return StoredInstance(
        id=str(bins["id"]),
        workflow=str(bins["wf"]),
        status=str(bins["status"]),
        data=bytes(bins["data"]),
        generation=generation,
        updated_at=float(bins["upd"]),
        outbox=bool(bins["outbox"]),
        expires_at=float(expires) if isinstance(expires, float | int) else None,
    )


def _timer(bins: dict[str, Any]) -> DueTimer:
    return DueTimer(str(bins["iid"]), str(bins["tid"]), float(bins["duef"]))
