"""The Aerospike store's instance records: their bins, and compare-and-set writes of one record or
of many in one batch (what `runtime.types.BatchStore` asks for).

A record's write is its bins, then the operations that change its waits and timers
(`aerospike_index`), under a generation policy: one `operate`. Many writes go in one `batch_write`
where each record carries its own policy; the server applies each record's write atomically, not
the batch as a whole, which is what the engine relies on (each instance is a step of its own). A
write that loses (result code: not found, generation, exists) is `Written(None)` for its record
alone. Two writes of one record in one call go in rounds, one batch each, so they apply in order.

The early messages a write peeks at are read in its batch when the write changes no waits (the
listeners were written before, as when an outbox is cleared), else in one batch read once written.

A batch that fails as a whole is tried again by `Connection.call` (transient errors only); a record
whose own result is transient is written again alone; any other result code fails the call. A
write that lost after an attempt that may have landed is checked to be ours or not.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import aerospike
import attrs
from aerospike import exception as aex
from aerospike_helpers.batch import records as br
from aerospike_helpers.operations import operations as ops
from attrs import frozen

from runtime.backends.aerospike_conn import RECORD_TOO_BIG, TRANSIENT, Connection
from runtime.backends.aerospike_early import EarlyMessages
from runtime.backends.aerospike_index import index_ops, ms
from runtime.types import Clear, Put, StoredInstance, Written

_LOST = (aex.RecordGenerationError, aex.RecordExistsError, aex.RecordNotFound)
_LOST_CODES = frozenset({2, 3, 5})  # not found, generation, exists: another writer won
_NOT_FOUND = 2
_CHUNK = 4096  # ids per batch read (servers before 6.4 refuse more than 5,000 by default)
_GEN_EQ = {"gen": aerospike.POLICY_GEN_EQ, "exists": aerospike.POLICY_EXISTS_UPDATE}


@frozen(eq=False)
class Write:
    """One compare-and-set of an instance record, ready to send."""

    iid: str
    ops: list[Any]
    meta: dict[str, int]
    policy: dict[str, Any]
    peek: tuple[tuple[str, str], ...] = ()
    late: bool = False  # it changes waits: peek once written, not in its batch
    record: StoredInstance | None = None  # what it writes (None: a clear); checked when in doubt


class Instances:
    """Instance records over one connection."""

    def __init__(
        self, conn: Connection, early: EarlyMessages, ttl: Callable[[float | None], int]
    ) -> None:
        self._conn = conn
        self._early = early
        self._ttl = ttl

    def put(self, put: Put) -> Write:
        """The write of `put`: created if `expected_generation` is 0, else updated at it."""
        rec, meta = put.record, {}
        policy: dict[str, Any] = {
            "ttl": self._ttl(rec.expires_at),
            "exists": aerospike.POLICY_EXISTS_CREATE,
        }
        if put.expected_generation != 0:
            meta["gen"] = put.expected_generation
            policy |= _GEN_EQ
        writes = [*record_ops(rec), *index_ops(put.index)]
        return Write(rec.id, writes, meta, policy, put.peek, bool(put.index), rec)

    def clear(self, clear: Clear) -> Write:
        """The write of `clear`: the outbox flag down, the rest of the record (TTL too) kept."""
        policy = _GEN_EQ | {"ttl": aerospike.TTL_DONT_UPDATE}
        meta = {"gen": clear.generation}
        return Write(clear.instance_id, [ops.write("outbox", 0)], meta, policy, clear.peek)

    # ------------------------------------------------------------------ reads

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
        return stored(bins, int(meta["gen"])) if "data" in bins else None

    async def get_many(self, instance_ids: Sequence[str]) -> dict[str, StoredInstance]:
        """The records of those ids that exist: one batch read per `_CHUNK` ids."""
        c, out, ids = self._conn, {}, list(dict.fromkeys(instance_ids))
        for at in range(0, len(ids), _CHUNK):
            chunk = ids[at : at + _CHUNK]
            done = await c.batch(
                f"reading {len(chunk)} instances",
                c.client.batch_read,
                [c.key("inst", i) for i in chunk],
                len(chunk),
            )
            for iid, r in zip(chunk, done.batch_records, strict=True):
                got = await self._read(iid, r)
                if got is not None:
                    out[iid] = got
        return out

    async def _read(self, iid: str, r: br.BatchRecord) -> StoredInstance | None:
        """The record of one batch read; read alone when its result was transient."""
        if r.result == 0:
            _key, meta, bins = r.record
            return stored(bins, int(meta["gen"])) if "data" in bins else None
        if r.result == _NOT_FOUND:
            return None
        self._conn.check(f"reading instance {iid}", r.result, TRANSIENT)
        return await self.get(iid)

    # ------------------------------------------------------------------ writes

    async def write(self, w: Write, *, in_doubt: bool = False) -> int | None:
        """One write alone (`operate`): the new generation, or None when another writer won."""
        c, doubt = self._conn, in_doubt

        def retried() -> None:
            nonlocal doubt
            doubt = True  # an attempt that timed out may have been applied

        try:
            _key, meta, _bins = await c.call(
                f"writing instance {w.iid}",
                c.client.operate,
                *(c.key("inst", w.iid), w.ops, w.meta, w.policy),
                expect=_LOST,
                retried=retried,
            )
        except _LOST:
            return await self._own(w.record) if doubt and w.record is not None else None
        return int(meta["gen"])

    async def write_many(self, writes: Sequence[Write]) -> list[Written]:
        """Each write, in order (one batch per round), then the late peeks in one batch read."""
        out: list[Written] = [Written(None)] * len(writes)
        for batch in _rounds([w.iid for w in writes]):
            done = await self._round([writes[i] for i in batch])
            for i, written in zip(batch, done, strict=True):
                out[i] = written
        late = [
            i for i, w in enumerate(writes) if w.late and w.peek and out[i].generation is not None
        ]
        peeked = await self._early.peek([writes[i].peek for i in late])
        for i, early in zip(late, peeked, strict=True):
            out[i] = attrs.evolve(out[i], early=early)
        return out

    async def _round(self, ws: list[Write]) -> list[Written]:
        """Writes of distinct records in one batch, with the reads of their early peeks."""
        if len(ws) == 1 and (ws[0].late or not ws[0].peek):
            return [Written(await self.write(ws[0]))]
        c, doubt = self._conn, False

        def retried() -> None:
            nonlocal doubt
            doubt = True

        writes = [br.Write(c.key("inst", w.iid), w.ops, meta=w.meta, policy=w.policy) for w in ws]
        reads = [
            br.Read(self._early.key(t, k), None, read_all_bins=True)
            for w in ws
            if not w.late
            for t, k in w.peek
        ]
        done = await c.batch(
            f"writing {len(ws)} instances",
            c.client.batch_write,
            br.BatchRecords([*writes, *reads]),
            len(writes) + len(reads),
            retried=retried,
        )
        results = done.batch_records
        found = iter(results[len(ws) :])
        out = []
        for w, r in zip(ws, results[: len(ws)], strict=True):
            mine = list(itertools.islice(found, 0 if w.late else len(w.peek)))
            out.append(await self._settle(w, r, mine, doubt or bool(r.in_doubt)))
        return out

    async def _settle(
        self, w: Write, r: br.BatchRecord, reads: list[br.BatchRecord], doubt: bool
    ) -> Written:
        """What one write of a batch did; written again alone when its result was transient, or
        lost after an attempt that may have landed (the write alone then settles whose it is)."""
        if r.result == 0:
            early = await self._early.found(w.peek, reads) if reads else ()
            return Written(int(r.record[1]["gen"]), early)
        if r.result == RECORD_TOO_BIG:  # the engine fails the run, written alone
            why = f"the record exceeds max-record-size of namespace {self._conn.config.namespace!r}"
            return Written(None, refused=why)
        if r.result in _LOST_CODES:
            if not doubt or w.record is None:  # a clear that lost: the engine reloads the record
                return Written(None)
        else:
            self._conn.check(f"writing instance {w.iid}", r.result, TRANSIENT)
        gen = await self.write(w, in_doubt=doubt)
        early = await self._early.take_all(w.peek) if gen is not None and not w.late else ()
        return Written(gen, early)

    async def _own(self, record: StoredInstance) -> int | None:
        """After a retried write lost: was the write that timed out ours after all?"""
        got = await self.get(record.id)
        if got is not None and got == attrs.evolve(record, generation=got.generation):
            return got.generation
        return None


def _rounds(ids: Sequence[str]) -> list[list[int]]:
    """Positions of `ids` in rounds: each id at most once a round, its repeats in later ones."""
    rounds: list[list[int]] = []
    seen: dict[str, int] = {}
    for i, iid in enumerate(ids):
        n = seen[iid] = seen.get(iid, -1) + 1
        if n == len(rounds):
            rounds.append([])
        rounds[n].append(i)
    return rounds


def record_ops(record: StoredInstance) -> list[Any]:
    """The operations writing a record's own bins (its waits and timers are left as they are)."""
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


def stored(bins: dict[str, Any], generation: int) -> StoredInstance:
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
