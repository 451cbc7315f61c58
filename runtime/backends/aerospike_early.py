"""The Aerospike store's early messages: one record per (topic, key) in the `early` set.

So whether anything is kept for a new listener is a read of one key, which the store sends in the
same round trip as the write that clears the outbox (nothing kept: the key is simply not found),
or, for many listeners at once, one batch read.
Bins: `msgs` maps message id -> [value, expires at, arrival ns, arrival seq]; `mexp` maps message
id -> expiry in whole milliseconds (a map-values index finds what `purge` drops). A message id
already kept is not replaced (insert-or-ignore). The record's TTL is the latest expiry of its
messages. All kept messages of one (topic, key) must fit in one record (max-record-size, 1 MiB by
default): thousands of replies that nothing listens to yet.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import time
from collections.abc import Callable, Sequence
from typing import Any

import aerospike
from aerospike import exception as aex
from aerospike import predicates
from aerospike_helpers.batch import records as br
from aerospike_helpers.operations import map_operations as mops
from aerospike_helpers.operations import operations as ops

from runtime.backends.aerospike_conn import Connection
from runtime.backends.aerospike_index import LOW, SEP, ms
from runtime.types import EarlyMessage

_KEEP_FIRST = {
    "map_write_flags": aerospike.MAP_WRITE_FLAGS_CREATE_ONLY | aerospike.MAP_WRITE_FLAGS_NO_FAIL
}
_UPDATE = {"exists": aerospike.POLICY_EXISTS_UPDATE}


class EarlyMessages:
    def __init__(self, conn: Connection, ttl: Callable[[float | None], int]) -> None:
        self._conn = conn
        self._ttl = ttl
        self._arrivals = itertools.count()

    def key(self, topic: str, key: str) -> tuple[str, str, str]:
        return self._conn.key("early", f"{topic}{SEP}{key}")

    async def add(self, message: EarlyMessage) -> None:
        m, c = message, self._conn
        entry = [
            bytearray(m.value),
            float(m.expires_at),
            time.time_ns(),  # arrival order across workers, as far as clocks agree
            next(self._arrivals),  # and exactly within this one
        ]
        writes = [
            mops.map_put("msgs", m.message_id, entry, _KEEP_FIRST),
            mops.map_put("mexp", m.message_id, ms(m.expires_at), _KEEP_FIRST),
            mops.map_get_by_rank("mexp", -1, aerospike.MAP_RETURN_VALUE),
        ]
        what = f"keeping message {m.message_id} for {m.topic}/{m.key}"
        key, policy = self.key(m.topic, m.key), {"ttl": self._ttl(m.expires_at)}
        _k, _meta, bins = await c.call(what, c.client.operate, key, writes, {}, policy)
        latest = int(bins["mexp"]) / 1000.0
        if latest > m.expires_at + 1.0:  # this write shortened the TTL of a message kept longer
            longer = {"ttl": self._ttl(latest)}
            await c.call(what, c.client.operate, key, [ops.touch()], {}, longer)

    async def take(self, topic: str, key: str) -> list[EarlyMessage]:
        c = self._conn
        try:
            _k, _meta, bins = await c.call(
                f"reading messages kept for {topic}/{key}",
                c.client.get,
                self.key(topic, key),
                expect=(aex.RecordNotFound,),
            )
        except aex.RecordNotFound:
            return []
        return _kept(topic, key, bins, time.time())

    async def take_all(self, pairs: Sequence[tuple[str, str]]) -> tuple[EarlyMessage, ...]:
        out: list[EarlyMessage] = []
        for topic, key in pairs:
            out += await self.take(topic, key)
        return tuple(out)

    async def peek(
        self, groups: Sequence[Sequence[tuple[str, str]]]
    ) -> list[tuple[EarlyMessage, ...]]:
        """The messages kept for each group of pairs (as `take_all`), all read in one batch."""
        pairs = [p for group in groups for p in group]
        if not pairs:
            return [() for _ in groups]
        c = self._conn
        done = await c.batch(
            f"reading the messages kept for {len(pairs)} keys",
            c.client.batch_read,
            [self.key(t, k) for t, k in pairs],
            len(pairs),
        )
        reads, out = iter(done.batch_records), []
        for group in groups:
            out.append(await self.found(group, list(itertools.islice(reads, len(group)))))
        return out

    async def found(
        self, pairs: Sequence[tuple[str, str]], reads: Sequence[br.BatchRecord]
    ) -> tuple[EarlyMessage, ...]:
        """The messages in the batch reads of `pairs` (read again where a read failed)."""
        now, out = time.time(), []
        for (topic, key), r in zip(pairs, reads, strict=True):
            if r.result == 0:
                out += _kept(topic, key, r.record[2], now)
            elif r.result != 2:  # 2: nothing kept
                out += await self.take(topic, key)
        return tuple(out)

    async def remove(self, topic: str, key: str, message_id: str) -> None:
        c, rkey = self._conn, self.key(topic, key)
        removals = [
            mops.map_remove_by_key("msgs", message_id, aerospike.MAP_RETURN_NONE),
            mops.map_remove_by_key("mexp", message_id, aerospike.MAP_RETURN_NONE),
            mops.map_size("mexp"),
        ]
        what = f"removing message {message_id} kept for {topic}/{key}"
        with contextlib.suppress(aex.RecordNotFound, aex.RecordGenerationError):
            _k, meta, bins = await c.call(
                what, c.client.operate, rkey, removals, {}, _UPDATE, expect=(aex.RecordNotFound,)
            )
            if bins["mexp"] == 0:  # the last one: the record goes, unless one came meanwhile
                gen = {"gen": aerospike.POLICY_GEN_EQ, "generation": meta["gen"]}
                remove = functools.partial(c.client.remove, policy=gen)
                await c.call(
                    what, remove, rkey, expect=(aex.RecordNotFound, aex.RecordGenerationError)
                )

    async def purge(self, now: float) -> int:
        """Drop the messages expired at `now` (a record left empty goes); how many were dropped."""
        c = self._conn
        match = predicates.range("mexp", aerospike.INDEX_TYPE_MAPVALUES, LOW, ms(now))
        writes: list[br.BatchRecord] = []
        counts: list[int] = []
        for row in await c.query("early", match, "msgs"):
            msgs: dict[str, Any] = dict(row.bins.get("msgs") or {})
            gone = [mid for mid, entry in msgs.items() if float(entry[1]) <= now]
            if not gone:
                continue
            counts.append(len(gone))
            if len(gone) == len(msgs):
                gen = {"gen": aerospike.POLICY_GEN_EQ}
                writes.append(br.Remove(row.key, policy=gen | {"generation": row.gen}))
            else:
                removals = [
                    mops.map_remove_by_key_list("msgs", gone, aerospike.MAP_RETURN_NONE),
                    mops.map_remove_by_key_list("mexp", gone, aerospike.MAP_RETURN_NONE),
                ]
                writes.append(br.Write(row.key, removals, policy=_UPDATE))
        if not writes:
            return 0
        batch = br.BatchRecords(writes)
        done = await c.batch("purging kept messages", c.client.batch_write, batch, len(writes))
        return sum(n for n, r in zip(counts, done.batch_records, strict=True) if r.result == 0)


def _kept(topic: str, key: str, bins: dict[str, Any], now: float) -> list[EarlyMessage]:
    """The live messages of one record, in arrival order."""
    msgs: dict[str, Any] = dict(bins.get("msgs") or {})
    live = sorted(
        (int(e[2]), int(e[3]), str(mid), bytes(e[0]), float(e[1]))
        for mid, e in msgs.items()
        if float(e[1]) > now
    )
    return [EarlyMessage(topic, key, mid, value, exp) for _at, _seq, mid, value, exp in live]
