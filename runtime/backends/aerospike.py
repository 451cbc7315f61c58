"""`aerospike://host:port/namespace`: the Store for workers spread over many machines.

Layout, one set per kind of record (all names carry a prefix so deployments can share a
namespace; the connection, retries and indexes are in `aerospike_conn`):

- `<prefix>inst`  one record per instance; compare-and-set by the record generation; finished
  instances get a TTL (retention). Secondary indexes on workflow, status, outbox and expiry. The
  instance's waits and timers are bins of the same record, indexed too, so the engine writes them
  with the state in one atomic write (`put_indexed`; layout in `aerospike_index`).
- `<prefix>early` one record per (topic, key) holding the messages kept for it (`aerospike_early`).

A transition that clears its outbox reads the messages kept for its new listeners in the same
round trip (one batch). `purge` removes what is past its expiry, as the other stores do; the
server's TTL (never less than `min_ttl` seconds after the write) removes it as well when nobody
purges. Everything else is written to never expire, whatever the namespace's default TTL.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import aerospike
import attrs
from aerospike import exception as aex
from aerospike import predicates
from aerospike_helpers import expressions as exp
from aerospike_helpers.batch import records as br
from aerospike_helpers.operations import operations as ops

from runtime.backends.aerospike_conn import (
    NEVER,
    AerospikeConfig,
    AerospikeStoreError,
    Connection,
    Index,
)
from runtime.backends.aerospike_early import EarlyMessages
from runtime.backends.aerospike_index import LOW, Correlation, index_ops, ms
from runtime.types import (
    DueTimer,
    EarlyMessage,
    IndexEffect,
    Page,
    SetTimer,
    StoredInstance,
    Written,
)

__all__ = ["AerospikeConfig", "AerospikeStore", "AerospikeStoreError"]

_KINDS = ("inst", "early")
_INDEXES = (
    Index("inst", "wf", "string"),
    Index("inst", "status", "string"),
    Index("inst", "outbox", "numeric"),
    Index("inst", "exp", "numeric"),
    Index("inst", "waits", "string", "list"),
    Index("inst", "tdue", "numeric", "mapvalues"),
    Index("early", "mexp", "numeric", "mapvalues"),
)
_LOST = (aex.RecordGenerationError, aex.RecordExistsError, aex.RecordNotFound)
_LOST_CODES = frozenset({2, 3, 5})  # not found, generation, exists: another writer won


class AerospikeStore:
    """A `runtime.types.Store` over the official client; also a `runtime.types.IndexingStore`."""

    def __init__(self, config: AerospikeConfig) -> None:
        self.config = config
        sets = {kind: f"{config.prefix}{kind}" for kind in _KINDS}
        self._conn = Connection(config, sets, _INDEXES)
        self._index = Correlation(self._conn)
        self._early = EarlyMessages(self._conn, self._ttl)

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
        return _instance(bins, int(meta["gen"])) if "data" in bins else None

    async def put(self, record: StoredInstance, expected_generation: int) -> int | None:
        return await self._write(record, expected_generation, _writes(record))

    async def put_indexed(
        self,
        record: StoredInstance,
        expected_generation: int,
        index: Sequence[IndexEffect],
        peek: Sequence[tuple[str, str]] = (),
    ) -> Written:
        """`runtime.types.IndexingStore`: the index changes are operations of the record's own
        write. The kept messages of `peek` are read in the same batch when the write changes no
        index (their listeners were written before), else right after it."""
        if any(isinstance(e, SetTimer) for e in index):
            self._index.timer_set()
        writes = [*_writes(record), *index_ops(index)]
        if peek and not index:
            return await self._write_and_peek(record, expected_generation, writes, peek)
        gen = await self._write(record, expected_generation, writes)
        early = await self._early.take_all(peek) if peek and gen is not None else ()
        return Written(gen, early)

    async def _write(
        self,
        record: StoredInstance,
        expected_generation: int,
        writes: list[dict[str, Any]],
        *,
        in_doubt: bool = False,
    ) -> int | None:
        c, doubt = self._conn, in_doubt

        def retried() -> None:
            nonlocal doubt
            doubt = True  # an attempt that timed out may have been applied

        meta, policy = self._cas(record, expected_generation)
        try:
            _key, written, _bins = await c.call(
                f"writing instance {record.id}",
                c.client.operate,
                *(c.key("inst", record.id), writes, meta, policy),
                expect=_LOST,
                retried=retried,
            )
        except _LOST:
            return await self._own_write(record) if doubt else None
        return int(written["gen"])

    async def _write_and_peek(
        self,
        record: StoredInstance,
        expected_generation: int,
        writes: list[dict[str, Any]],
        peek: Sequence[tuple[str, str]],
    ) -> Written:
        """The write and the reads of the messages kept for `peek`, in one batch."""
        c, doubt = self._conn, False

        def retried() -> None:
            nonlocal doubt
            doubt = True

        meta, policy = self._cas(record, expected_generation)
        reads = [br.Read(self._early.key(t, k), None, read_all_bins=True) for t, k in peek]
        write = br.Write(c.key("inst", record.id), writes, meta=meta, policy=policy)
        done = await c.call(
            f"writing instance {record.id} and reading the messages kept for it",
            c.client.batch_write,
            br.BatchRecords([write, *reads]),
            retried=retried,
        )
        wrote, *found = done.batch_records
        if wrote.result == 0:
            return Written(int(wrote.record[1]["gen"]), await self._early.found(peek, found))
        if wrote.result in _LOST_CODES and not (doubt or wrote.in_doubt):
            return Written(None)
        # failed, or lost after an attempt that may have landed: the write alone settles it
        doubt = doubt or bool(wrote.in_doubt)
        gen = await self._write(record, expected_generation, writes, in_doubt=doubt)
        return Written(gen, await self._early.take_all(peek) if gen is not None else ())

    def _cas(
        self, record: StoredInstance, expected_generation: int
    ) -> tuple[dict[str, int], dict[str, int]]:
        """(meta, policy) of a write that succeeds only at `expected_generation` (0: absent)."""
        meta: dict[str, int] = {}
        policy = {"ttl": self._ttl(record.expires_at), "exists": aerospike.POLICY_EXISTS_CREATE}
        if expected_generation != 0:
            meta["gen"] = expected_generation
            policy |= {"gen": aerospike.POLICY_GEN_EQ, "exists": aerospike.POLICY_EXISTS_UPDATE}
        return meta, policy

    async def _own_write(self, record: StoredInstance) -> int | None:
        """After a retried write lost: was the write that timed out ours after all?"""
        stored = await self.get(record.id)
        if stored is not None and stored == attrs.evolve(record, generation=stored.generation):
            return stored.generation
        return None

    async def list(
        self, workflow: str | None, status: str | None, limit: int, cursor: str | None
    ) -> Page:
        conditions: list[Any] = [exp.BinExists("data")]  # not the waits and timers of `_index`
        conditions += [
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
        await self._index.add_wait(topic, key, instance_id)

    async def remove_wait(self, topic: str, key: str, instance_id: str) -> None:
        await self._index.remove_wait(topic, key, instance_id)

    async def waiters(self, topic: str, key: str) -> Sequence[str]:
        return await self._index.waiters(topic, key)

    # ------------------------------------------------------------------ timers

    async def add_timer(self, timer: DueTimer) -> None:
        await self._index.add_timer(timer)

    async def remove_timer(self, instance_id: str, timer_id: str) -> None:
        await self._index.remove_timer(instance_id, timer_id)

    async def due_timers(self, now: float, limit: int) -> Sequence[DueTimer]:
        return await self._index.due_timers(now, limit)

    async def next_due(self) -> float | None:
        return await self._index.next_due()

    # ------------------------------------------------------------------ early messages

    async def add_early(self, message: EarlyMessage) -> None:
        await self._early.add(message)

    async def take_early(self, topic: str, key: str) -> Sequence[EarlyMessage]:
        return await self._early.take(topic, key)

    async def remove_early(self, topic: str, key: str, message_id: str) -> None:
        await self._early.remove(topic, key, message_id)

    async def purge(self, now: float) -> int:
        c, past = self._conn, predicates.between("exp", LOW, ms(now))
        gone = [r.key for r in await c.query("inst", past, "expf") if float(r.bins["expf"]) <= now]
        dropped = await self._early.purge(now)
        if not gone:
            return dropped
        result = await c.call("purging finished instances", c.client.batch_remove, gone)
        return dropped + sum(1 for r in result.batch_records if r.result == 0)


def _writes(record: StoredInstance) -> list[Any]:
    expires = record.expires_at
    bins: dict[str, Any] = {
        "id": record.id,
        "wf": record.workflow,
        "status": record.status,
        "data": bytearray(record.data),
        "upd": float(record.updated_at),
        "outbox": int(record.outbox),
        "exp": aerospike.null() if expires is None else ms(expires),  # null removes the bin
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
