"""`aerospike://host:port/namespace`: the Store for workers spread over many machines.

The official client is synchronous, so every call runs in a bounded thread pool. Layout, one set
per kind of record (all names carry a prefix so deployments can share a namespace):

- `<prefix>inst`  one record per instance; compare-and-set by the record generation; finished
  instances get a TTL (retention). Secondary indexes on workflow, status, outbox and expiry.
- `<prefix>wait`  one small record per (topic, key, instance): a hot key with tens of thousands of
  waiters is tens of thousands of small records found through an index, never one giant record.
- `<prefix>timer` one record per timer, found by a range query on its due time (indexed).
- `<prefix>early` one record per kept message, with a TTL for its retention.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

import aerospike
from aerospike import exception as aex
from aerospike import predicates
from aerospike_helpers.operations import operations as ops
from attrs import frozen

from runtime.types import DueTimer, EarlyMessage, Page, StoredInstance

T = TypeVar("T")
_SEP = "\x1f"
_RETRIABLE: tuple[type[Exception], ...] = (aex.TimeoutError, aex.ClientError)
_MS = 1000.0


class AerospikeStoreError(RuntimeError):
    """The server is unreachable, the namespace is missing, or a call failed for good."""


@frozen
class AerospikeConfig:
    hosts: tuple[tuple[str, int], ...]
    namespace: str
    prefix: str = "dagger_"
    user: str | None = None
    password: str | None = None
    timeout_ms: int = 1000
    pool_size: int = 16
    retries: int = 3

    @classmethod
    def from_url(cls, url: str) -> AerospikeConfig:
        """`aerospike://[user:password@]host:port[,host:port]/namespace?prefix=&timeout_ms=&pool=`"""
        parts = urlsplit(url)
        if parts.scheme != "aerospike":
            raise ValueError(f"expected an aerospike:// URL (got {url!r})")
        namespace = parts.path.strip("/")
        if not namespace:
            raise ValueError(f"the Aerospike URL names no namespace: {url!r} (add /namespace)")
        netloc = parts.netloc.rsplit("@", 1)[-1]
        hosts = tuple(_host(h) for h in netloc.split(",") if h)
        if not hosts:
            raise ValueError(f"the Aerospike URL names no host: {url!r}")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        return cls(
            hosts=hosts,
            namespace=namespace,
            prefix=query.get("prefix", "dagger_"),
            user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            timeout_ms=int(query.get("timeout_ms", "1000")),
            pool_size=int(query.get("pool", "16")),
        )


def _host(text: str) -> tuple[str, int]:
    host, _, port = text.partition(":")
    return host, int(port or "3000")


def _ms(seconds: float) -> int:
    return int(seconds * _MS)


def _ttl(expires_at: float | None) -> int:
    if expires_at is None:
        return int(aerospike.TTL_NEVER_EXPIRE)
    return max(1, int(expires_at - time.time()) + 1)


class AerospikeStore:
    """A `runtime.types.Store` over the official client, in a bounded thread pool."""

    def __init__(self, config: AerospikeConfig) -> None:
        self.config = config
        self._pool = ThreadPoolExecutor(config.pool_size, thread_name_prefix="aerospike")
        self._client: Any = None
        p = config.prefix
        self._sets = {
            "inst": f"{p}inst",
            "wait": f"{p}wait",
            "timer": f"{p}timer",
            "early": f"{p}early",
        }
        self.round_trips = 0  # server calls made, for measuring cost per transition

    @classmethod
    def from_url(cls, url: str) -> AerospikeStore:
        return cls(AerospikeConfig.from_url(url))

    # ------------------------------------------------------------------ plumbing

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        for attempt in range(1, self.config.retries + 1):
            try:
                self.round_trips += 1
                return await loop.run_in_executor(self._pool, lambda: fn(*args, **kwargs))
            except aex.RecordNotFound:
                raise
            except _RETRIABLE as exc:
                if attempt == self.config.retries or not _is_transient(exc):
                    raise AerospikeStoreError(f"aerospike call failed: {exc}") from exc
                await asyncio.sleep(0.01 * 2**attempt)
        raise AssertionError("unreachable")

    def _key(self, kind: str, user_key: str) -> tuple[str, str, str]:
        return (self.config.namespace, self._sets[kind], user_key)

    async def start(self) -> None:
        cfg = self.config
        conf: dict[str, Any] = {
            "hosts": list(cfg.hosts),
            "policies": {"timeout": cfg.timeout_ms},
            "max_conns_per_node": max(cfg.pool_size, 16),
        }
        if cfg.user:
            conf["user"], conf["password"] = cfg.user, cfg.password or ""
        where = ",".join(f"{h}:{p}" for h, p in cfg.hosts)
        try:
            self._client = await asyncio.get_running_loop().run_in_executor(
                self._pool, lambda: aerospike.client(conf)
            )
        except aex.AerospikeError as exc:
            raise AerospikeStoreError(f"cannot reach Aerospike at {where}: {exc}") from exc
        namespaces = await self._run(self._client.info_random_node, "namespaces")
        names = namespaces.split("\t", 1)[-1].strip().split(";")
        if cfg.namespace not in names:
            raise AerospikeStoreError(
                f"Aerospike at {where} has no namespace {cfg.namespace!r} (it has {', '.join(names)})"
            )
        await self._create_indexes()

    async def _create_indexes(self) -> None:
        p, ns = self.config.prefix, self.config.namespace
        wanted = [
            ("string", "inst", "wf"),
            ("string", "inst", "status"),
            ("integer", "inst", "outbox"),
            ("integer", "inst", "exp"),
            ("string", "wait", "tk"),
            ("integer", "timer", "due"),
            ("string", "early", "tk"),
            ("integer", "early", "exp"),
        ]
        for kind, set_kind, bin_name in wanted:
            create = (
                self._client.index_string_create
                if kind == "string"
                else self._client.index_integer_create
            )
            try:
                await self._run(
                    create, ns, self._sets[set_kind], bin_name, f"{p}{set_kind}_{bin_name}"
                )
            except (aex.IndexFoundError, AerospikeStoreError) as exc:
                if not isinstance(exc, aex.IndexFoundError) and "exist" not in str(exc).lower():
                    raise

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await asyncio.get_running_loop().run_in_executor(self._pool, client.close)
        self._pool.shutdown(wait=True)

    async def _query(self, kind: str, predicate: Any) -> list[dict[str, Any]]:
        """Records of one set matching an indexed predicate (every record when None).

        Each row is its bins plus `_gen`, the record generation."""

        def run() -> list[dict[str, Any]]:
            query = self._client.query(self.config.namespace, self._sets[kind])
            if predicate is not None:
                query.where(predicate)
            return [{**bins, "_gen": meta["gen"]} for (_key, meta, bins) in query.results()]

        return await self._run(run)

    async def _remove(self, kind: str, user_key: str) -> None:
        with contextlib.suppress(aex.RecordNotFound):
            await self._run(self._client.remove, self._key(kind, user_key))

    # ------------------------------------------------------------------ instances

    async def get(self, instance_id: str) -> StoredInstance | None:
        try:
            _key, meta, bins = await self._run(self._client.get, self._key("inst", instance_id))
        except aex.RecordNotFound:
            return None
        return _instance(bins, int(meta["gen"]))

    async def put(self, record: StoredInstance, expected_generation: int) -> int | None:
        bins: dict[str, Any] = {
            "id": record.id,
            "wf": record.workflow,
            "status": record.status,
            "data": bytearray(record.data),
            "upd": record.updated_at,
            "outbox": int(record.outbox),
            "exp": _ms(record.expires_at) if record.expires_at is not None else aerospike.null(),
            "expf": record.expires_at if record.expires_at is not None else aerospike.null(),
        }
        operations = [ops.write(name, value) for name, value in bins.items()]
        meta = {"ttl": _ttl(record.expires_at)}
        if expected_generation == 0:
            policy = {"exists": aerospike.POLICY_EXISTS_CREATE}
        else:
            meta["gen"] = expected_generation
            policy = {"gen": aerospike.POLICY_GEN_EQ}
        try:
            _k, new_meta, _b = await self._run(
                self._client.operate, self._key("inst", record.id), operations, meta, policy
            )
        except (aex.RecordGenerationError, aex.RecordExistsError):
            return None
        except aex.RecordNotFound:
            return None
        return int(new_meta["gen"])

    async def list(
        self, workflow: str | None, status: str | None, limit: int, cursor: str | None
    ) -> Page:
        if status is not None:
            rows = await self._query("inst", predicates.equals("status", status))
        elif workflow is not None:
            rows = await self._query("inst", predicates.equals("wf", workflow))
        else:
            rows = await self._query("inst", None)
        chosen = sorted(
            (
                r
                for r in rows
                if (workflow is None or r["wf"] == workflow)
                and (cursor is None or r["id"] > cursor)
            ),
            key=lambda r: str(r["id"]),
        )
        page = chosen[:limit]
        more = len(chosen) > limit
        items = tuple(_instance(r, int(r["_gen"])) for r in page)
        return Page(items, items[-1].id if more and items else None)

    async def with_outbox(self, limit: int) -> Sequence[str]:
        rows = await self._query("inst", predicates.equals("outbox", 1))
        return sorted(str(r["id"]) for r in rows)[:limit]

    # ------------------------------------------------------------------ correlation index

    async def add_wait(self, topic: str, key: str, instance_id: str) -> None:
        tk = f"{topic}{_SEP}{key}"
        bins = {"tk": tk, "iid": instance_id}
        await self._run(self._client.put, self._key("wait", f"{tk}{_SEP}{instance_id}"), bins)

    async def remove_wait(self, topic: str, key: str, instance_id: str) -> None:
        await self._remove("wait", f"{topic}{_SEP}{key}{_SEP}{instance_id}")

    async def waiters(self, topic: str, key: str) -> Sequence[str]:
        rows = await self._query("wait", predicates.equals("tk", f"{topic}{_SEP}{key}"))
        return sorted(str(r["iid"]) for r in rows)

    # ------------------------------------------------------------------ timers

    async def add_timer(self, timer: DueTimer) -> None:
        bins = {
            "iid": timer.instance_id,
            "tid": timer.timer_id,
            "due": _ms(timer.due),
            "duef": timer.due,
        }
        await self._run(
            self._client.put, self._key("timer", f"{timer.instance_id}{_SEP}{timer.timer_id}"), bins
        )

    async def remove_timer(self, instance_id: str, timer_id: str) -> None:
        await self._remove("timer", f"{instance_id}{_SEP}{timer_id}")

    async def due_timers(self, now: float, limit: int) -> Sequence[DueTimer]:
        rows = await self._query("timer", predicates.between("due", 0, _ms(now)))
        timers = sorted((_timer(r) for r in rows), key=lambda t: (t.due, t.instance_id, t.timer_id))
        return timers[:limit]

    async def next_due(self) -> float | None:
        rows = await self._query("timer", predicates.between("due", 0, _ms(time.time() + 5.0)))
        if not rows:  # nothing soon: look at every timer once
            rows = await self._query("timer", predicates.between("due", 0, 2**62))
        return min((float(r["duef"]) for r in rows), default=None)

    # ------------------------------------------------------------------ early messages

    async def add_early(self, message: EarlyMessage) -> None:
        tk = f"{message.topic}{_SEP}{message.key}"
        bins = {
            "tk": tk,
            "mid": message.message_id,
            "val": bytearray(message.value),
            "exp": _ms(message.expires_at),
            "expf": message.expires_at,
            "at": time.time_ns(),
        }
        meta = {"ttl": _ttl(message.expires_at)}
        await self._run(
            self._client.put, self._key("early", f"{tk}{_SEP}{message.message_id}"), bins, meta
        )

    async def take_early(self, topic: str, key: str) -> Sequence[EarlyMessage]:
        rows = await self._query("early", predicates.equals("tk", f"{topic}{_SEP}{key}"))
        now = time.time()
        kept = sorted((r for r in rows if r["expf"] > now), key=lambda r: (r["at"], r["mid"]))
        return [
            EarlyMessage(topic, key, str(r["mid"]), bytes(r["val"]), float(r["expf"])) for r in kept
        ]

    async def remove_early(self, topic: str, key: str, message_id: str) -> None:
        await self._remove("early", f"{topic}{_SEP}{key}{_SEP}{message_id}")

    async def purge(self, now: float) -> int:
        count = 0
        for row in await self._query("early", predicates.between("exp", 0, _ms(now))):
            await self._remove("early", f"{row['tk']}{_SEP}{row['mid']}")
            count += 1
        for row in await self._query("inst", predicates.between("exp", 0, _ms(now))):
            await self._remove("inst", str(row["id"]))
            count += 1
        return count


def _is_transient(exc: Exception) -> bool:
    code = getattr(exc, "code", None)
    # timeouts, server busy/overloaded, no connection: worth another try; everything else is not
    return isinstance(exc, aex.TimeoutError) or code in (-1, -10, 9, 14, 18)


def _instance(bins: dict[str, Any], generation: int) -> StoredInstance:
    exp = bins.get("expf")
    return StoredInstance(
        id=str(bins["id"]),
        workflow=str(bins["wf"]),
        status=str(bins["status"]),
        data=bytes(bins["data"]),
        generation=generation,
        updated_at=float(bins["upd"]),
        outbox=bool(bins["outbox"]),
        expires_at=float(exp) if isinstance(exp, float | int) else None,
    )


def _timer(bins: dict[str, Any]) -> DueTimer:
    return DueTimer(str(bins["iid"]), str(bins["tid"]), float(bins["duef"]))
