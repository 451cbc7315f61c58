"""Which runs wait for a message: the correlation index, and the runs of `by_key` listeners.

A listener whose `match` is the workflow's key waits on its run's own key, so the run that may wait
for a message keyed `k` on topic `T` is `<workflow>:k`, for each workflow with such a listener on
`T`: reading that run (one batch read for a fetched batch; the decoded-record cache usually holds
it) says whether it waits, with no index to write when a listener starts or ends and none to query
when a message arrives. Only topics that also have other listeners ask the store's index.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from runtime import machine
from runtime.engine_api import UnknownWorkflowError
from runtime.engine_core import Core
from runtime.types import BatchStore, DecodeError, Status, StoredInstance

_log = logging.getLogger("dagger.engine")

Pair = tuple[str, str]  # (topic, key)


class Waiters:
    """`Store.waiters` / `BatchStore.waiters_many` for the engine's listener topics."""

    def __init__(self, core: Core) -> None:
        self._core = core

    async def waiters(self, topic: str, key: str) -> list[str]:
        core, registry = self._core, self._core.registry
        found = list(await core.store.waiters(topic, key)) if topic in registry.indexed else []
        for name in registry.by_key.get(topic, ()):
            iid = f"{name}:{key}"
            if iid not in found:
                stored = await core.store.get(iid)
                if stored is not None and self._waits(stored, topic, key):
                    found.append(iid)
        return found

    async def waiters_many(
        self, store: BatchStore, pairs: Sequence[Pair]
    ) -> tuple[Mapping[Pair, Sequence[str]], Mapping[str, StoredInstance]]:
        """`waiters` of each pair (one index query for the indexed topics, one batch read of
        the candidate runs for the others; a pair nobody waits on may be left out), and the
        records read (the batch step that follows need not read them again)."""
        registry = self._core.registry
        indexed = [p for p in pairs if p[0] in registry.indexed]
        found: dict[Pair, list[str]] = {}
        if indexed:
            found = {p: list(iids) for p, iids in (await store.waiters_many(indexed)).items()}
        stored: Mapping[str, StoredInstance] = {}
        candidates: dict[str, list[Pair]] = {}
        for topic, key in pairs:
            for name in registry.by_key.get(topic, ()):
                candidates.setdefault(f"{name}:{key}", []).append((topic, key))
        if candidates:
            stored = await store.get_many(list(candidates))
            for iid, rec in stored.items():
                for pair in candidates[iid]:
                    have = found.setdefault(pair, [])
                    if iid not in have and self._waits(rec, *pair):
                        have.append(iid)
        return found, stored

    def _waits(self, stored: StoredInstance, topic: str, key: str) -> bool:
        """Whether the run waits on (topic, key). A record this engine cannot read counts as
        waiting: its step then says why (as a message routed by the index would)."""
        try:
            _wf, instance, _outbox = self._core.decode(stored)
        except (UnknownWorkflowError, DecodeError) as exc:
            _log.debug("instance %s: read as waiting: %s", stored.id, exc)
            return True
        return instance.status is Status.EXECUTING and machine.waits_on(instance, topic, key)
