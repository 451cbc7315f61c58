"""`aerospike://host:port/namespace`: the Store for workers spread over many machines.

Layout, one set per kind of record (all names carry a prefix so deployments can share a
namespace; the connection, retries and indexes are in `aerospike_conn`):

- `<prefix>inst`  one record per instance; compare-and-set by the record generation; finished
  instances get a TTL (retention). Secondary indexes on workflow, status, outbox and expiry. The
  instance's waits and timers are bins of the same record, indexed too, so the engine writes them
  with the state in one atomic write (`put_indexed`; layout in `aerospike_index`). Many records
  are read, written or cleared in one batch (`BatchStore`; writes in `aerospike_batch`).
- `<prefix>early` one record per (topic, key) holding the messages kept for it (`aerospike_early`).

A transition that clears its outbox reads the messages kept for its new listeners in the same
round trip (one batch, for one run or for many). `purge` removes what is past its expiry, as the other stores do; the
server's TTL (never less than `min_ttl` seconds after the write) removes it as well when nobody
purges. Everything else is written to never expire, whatever the namespace's default TTL.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

from aerospike import predicates
from aerospike_helpers import expressions as exp

from runtime.backends.aerospike_batch import Instances, stored
from runtime.backends.aerospike_conn import (
    NEVER,
    AerospikeConfig,
    AerospikeStoreError,
    Connection,
    Index,
)
from runtime.backends.aerospike_early import EarlyMessages
from runtime.backends.aerospike_index import LOW, Correlation, ms
from runtime.types import (
    Clear,
    DueTimer,
    EarlyMessage,
    IndexEffect,
    Page,
    Put,
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


class AerospikeStore:
    """A `runtime.types.Store` over the official client; also a `runtime.types.IndexingStore` and
    a `runtime.types.BatchStore`."""

    def __init__(self, config: AerospikeConfig) -> None:
        self.config = config
        sets = {kind: f"{config.prefix}{kind}" for kind in _KINDS}
        self._conn = Connection(config, sets, _INDEXES)
        self._index = Correlation(self._conn)
        self._early = EarlyMessages(self._conn, self._ttl)
        self._inst = Instances(self._conn, self._early, self._ttl)

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

    @classmethod
    async def drop_url(cls, url: str) -> None:
        """`drop` on the store of `url`, connecting without preparing its indexes first."""
        store = cls.from_url(url)
        await store.start(prepare=False)
        try:
            await store.drop()
        finally:
            await store.close()

    def _ttl(self, expires_at: float | None) -> int:
        if expires_at is None:
            return NEVER
        return max(self.config.min_ttl, math.ceil(expires_at - time.time()))

    # ------------------------------------------------------------------ instances

    async def get(self, instance_id: str) -> StoredInstance | None:
        return await self._inst.get(instance_id)

    async def put(self, record: StoredInstance, expected_generation: int) -> int | None:
        return await self._inst.write(self._inst.put(Put(record, expected_generation)))

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
        [written] = await self.put_many([Put(record, expected_generation, (*index,), (*peek,))])
        return written

    async def get_many(self, instance_ids: Sequence[str]) -> Mapping[str, StoredInstance]:
        """`runtime.types.BatchStore`: one batch read."""
        return await self._inst.get_many(instance_ids)

    async def put_many(self, puts: Sequence[Put]) -> Sequence[Written]:
        """`runtime.types.BatchStore`: one batch write (each record with its own generation
        policy, atomic per record), plus one batch read of what the peeks of index-changing
        writes ask for. Lone writes are one `operate`."""
        if any(isinstance(e, SetTimer) for p in puts for e in p.index):
            self._index.timer_set()
        return await self._inst.write_many([self._inst.put(p) for p in puts])

    async def clear_many(self, clears: Sequence[Clear]) -> Sequence[Written]:
        """`runtime.types.BatchStore`: one batch write of the outbox flags (each at its record's
        generation, its TTL kept), the reads of the early messages asked in the same batch."""
        return await self._inst.write_many([self._inst.clear(c) for c in clears])

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
        items = tuple(stored(r.bins, r.gen) for r in rows[:limit])
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

    async def waiters_many(
        self, pairs: Sequence[tuple[str, str]]
    ) -> Mapping[tuple[str, str], Sequence[str]]:
        """`runtime.types.BatchStore`: a secondary-index query per pair, all at once."""
        found = await asyncio.gather(*(self._index.waiters(t, k) for t, k in pairs))
        return {pair: iids for pair, iids in zip(pairs, found, strict=True) if iids}

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
        result = await c.batch("purging finished instances", c.client.batch_remove, gone, len(gone))
        return dropped + sum(1 for r in result.batch_records if r.result == 0)
