"""`aerospike://host:port/namespace`: the Store for workers spread over many machines.

The official client is synchronous, so every call runs in a bounded thread pool. Layout, one set
per kind of record (all names carry a prefix so deployments can share a namespace):

- `<prefix>inst`  one record per instance; compare-and-set by the record generation; finished
  instances get a TTL (retention). Secondary indexes on workflow, status, outbox and expiry.
- `<prefix>wait`  one small record per (topic, key, instance): a hot key with tens of thousands of
  waiters is tens of thousands of small records found through an index, never one giant record.
- `<prefix>timer` one record per timer, found by a range query on its due time (indexed).
- `<prefix>early` one record per kept message, with a TTL for its retention.

`purge` removes what is past its expiry, as in the other stores; the server's TTL (never less than
`min_ttl` seconds after the write) removes it too if nobody purges. Records that must stay are
written with "never expire", whatever the namespace's default TTL.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import math
import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

import aerospike
from aerospike import exception as aex
from aerospike import predicates
from aerospike_helpers import expressions as exp
from aerospike_helpers.operations import operations as ops
from attrs import frozen

from runtime.types import DueTimer, EarlyMessage, Page, StoredInstance

T = TypeVar("T")
_SEP = "\x1f"
_LOW, _HIGH = -(2**62), 2**62
_NEVER = -1  # the record TTL meaning "never expire"
_INDEXES = (  # (set kind, bin, type)
    ("inst", "wf", "string"),
    ("inst", "status", "string"),
    ("inst", "outbox", "integer"),
    ("inst", "exp", "integer"),
    ("wait", "tk", "string"),
    ("timer", "due", "integer"),
    ("early", "tk", "string"),
    ("early", "exp", "integer"),
)
# Worth another try: timeout (9), hot key (14), device overload (18), cluster change or partition
# unavailable (7, 11), connection trouble (-10, -7, -8, -15, -14: client error-rate back-off), query
# or batch queue full (211, 212, 152), index still being built (203). Anything else is final.
_TRANSIENT_CODES = frozenset({9, 14, 18, 7, 11, -10, -7, -8, -15, -14, 211, 212, 152, 203})
_NEAR = 5.0  # next_due asks the index for timers due this soon on every call
_FAR_CACHE = 1.0  # and scans for later ones at most this often
_URL_KEYS = frozenset({"prefix", "timeout_ms", "pool"})


class _Row(NamedTuple):
    key: Any
    gen: int
    bins: dict[str, Any]


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
    attempts: int = 3  # for transient errors only
    min_ttl: int = 5  # seconds: a record written already past its expiry stays this long

    def __attrs_post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_]{0,40}", self.prefix):
            raise ValueError(
                f"Aerospike prefix must be at most 40 letters, digits or '_' (got {self.prefix!r})"
            )

    @property
    def where(self) -> str:
        return ",".join(f"{h}:{p}" for h, p in self.hosts)

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
        hosts = tuple(_host(h, url) for h in netloc.split(",") if h)
        if not hosts:
            raise ValueError(f"the Aerospike URL names no host: {url!r}")
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        unknown = sorted(set(query) - _URL_KEYS)
        if unknown:
            raise ValueError(
                f"the Aerospike URL {url!r} has unknown option(s) {', '.join(unknown)}"
                f" (known: {', '.join(sorted(_URL_KEYS))})"
            )
        return cls(
            hosts=hosts,
            namespace=namespace,
            prefix=query.get("prefix", "dagger_"),
            user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            timeout_ms=_positive(query, "timeout_ms", 1000, url),
            pool_size=_positive(query, "pool", 16, url),
        )


def _host(text: str, url: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":") if ":" in text else (text, "", "3000")
    if not host or not port.isdigit():
        raise ValueError(f"the Aerospike URL {url!r} has a bad host {text!r} (want host:port)")
    return host, int(port)


def _positive(query: dict[str, str], name: str, default: int, url: str) -> int:
    text = query.get(name, str(default))
    if not text.isdigit() or int(text) == 0:
        raise ValueError(
            f"the Aerospike URL {url!r}: {name} must be a positive integer (got {text!r})"
        )
    return int(text)


def _ms(seconds: float) -> int:
    """Index value of a time: whole milliseconds, rounded down so `t1 <= t2` implies `ms <= ms`."""
    return math.floor(seconds * 1000.0)


class AerospikeStore:
    """A `runtime.types.Store` over the official client, in a bounded thread pool."""

    def __init__(self, config: AerospikeConfig) -> None:
        self.config = config
        self._pool: ThreadPoolExecutor | None = None
        self._client: Any = None
        self._sets = {kind: f"{config.prefix}{kind}" for kind in ("inst", "wait", "timer", "early")}
        self._arrivals = itertools.count()
        self._far: tuple[float, float | None] | None = None  # (checked at, earliest later timer)
        self.round_trips = 0  # server calls made, for measuring cost per transition

    @classmethod
    def from_url(cls, url: str) -> AerospikeStore:
        return cls(AerospikeConfig.from_url(url))

    # ------------------------------------------------------------------ plumbing

    async def _call(
        self, what: str, fn: Callable[..., T], *args: Any, expect: tuple[type[Exception], ...] = ()
    ) -> T:
        """Run one client call in the pool; retry transient failures; `expect`ed errors pass
        through for the caller to handle, every other failure becomes an AerospikeStoreError."""
        if self._client is None or self._pool is None:
            raise AerospikeStoreError(f"the Aerospike store is not started ({what}): call start()")
        loop, call = asyncio.get_running_loop(), functools.partial(fn, *args)
        for attempt in range(1, self.config.attempts + 1):
            self.round_trips += 1
            try:
                return await loop.run_in_executor(self._pool, call)
            except expect:
                raise
            except aex.AerospikeError as exc:
                if getattr(exc, "code", None) not in _TRANSIENT_CODES:
                    raise self._error(what, exc, "") from exc
                if attempt == self.config.attempts:
                    raise self._error(what, exc, f" (tried {attempt} times)") from exc
                await asyncio.sleep(0.02 * 2**attempt)
        raise AssertionError("unreachable")

    def _error(self, what: str, exc: Exception, tail: str) -> AerospikeStoreError:
        code, msg = getattr(exc, "code", None), getattr(exc, "msg", None) or str(exc)
        hint = ""
        if isinstance(exc, aex.ForbiddenError):
            hint = f"; namespace {self.config.namespace!r} refuses TTLs: give it an nsup-period"
        return AerospikeStoreError(
            f"Aerospike at {self.config.where}: {what} failed with {type(exc).__name__}"
            f" ({code}): {msg}{tail}{hint}"
        )

    def _key(self, kind: str, user_key: str) -> tuple[str, str, str]:
        return (self.config.namespace, self._sets[kind], user_key)

    async def start(self, *, prepare: bool = True) -> None:
        """Connect, check the namespace and (unless `prepare` is False) create the indexes."""
        if self._client is not None:
            return
        cfg = self.config
        self._pool = ThreadPoolExecutor(cfg.pool_size, thread_name_prefix="aerospike")
        try:
            self._client = await asyncio.get_running_loop().run_in_executor(
                self._pool, functools.partial(aerospike.client, _client_config(cfg))
            )
        except aex.AerospikeError as exc:
            self._pool.shutdown(wait=False)
            self._pool = None
            msg = getattr(exc, "msg", None) or exc
            raise AerospikeStoreError(f"cannot reach Aerospike at {cfg.where}: {msg}") from exc
        try:
            await self._check_namespace()
            if prepare:
                await self._create_indexes()
        except BaseException:
            await self.close()
            raise

    async def _check_namespace(self) -> None:
        reply = await self._call("listing namespaces", self._client.info_random_node, "namespaces")
        names = [n for n in str(reply).split("\t", 1)[-1].strip().split(";") if n]
        if self.config.namespace not in names:
            raise AerospikeStoreError(
                f"Aerospike at {self.config.where} has no namespace {self.config.namespace!r}"
                f" (it has: {', '.join(names) or 'none'}); fix the URL's /namespace"
            )

    async def _info(self, command: str) -> list[str]:
        """Ask every node; their answers."""
        replies = await self._call(command.split(":", 1)[0], self._client.info_all, command)
        return [str(answer).strip() for _err, answer in replies.values()]

    async def _ready_indexes(self) -> set[str]:
        """Names of this prefix's indexes built (state RW) on every node."""
        answers = await self._info(f"sindex-list:ns={self.config.namespace}")
        found = [set(re.findall(r"indexname=([^:;]+):[^;]*state=RW", a)) for a in answers]
        return set.intersection(*found) if found else set()

    def _index_name(self, kind: str, bin_name: str) -> str:
        return f"{self.config.prefix}{kind}_{bin_name}"

    async def _create_indexes(self, within: float = 30.0) -> None:
        """Create the missing indexes, then wait until every node has built them."""
        ready, ns = await self._ready_indexes(), self.config.namespace
        wanted = {self._index_name(k, b): (k, b, t) for k, b, t in _INDEXES}
        for name, (kind, bin_name, type_) in wanted.items():
            if name in ready:
                continue
            command = (
                f"sindex-create:namespace={ns};set={self._sets[kind]};indexname={name};"
                f"bin={bin_name};type={'numeric' if type_ == 'integer' else type_}"
            )
            answer = (await self._info(command))[0]
            if not answer.startswith("ok"):
                raise AerospikeStoreError(
                    f"Aerospike at {self.config.where} cannot create index {name}: {answer}"
                )
        deadline = time.monotonic() + within
        while not set(wanted) <= (ready := await self._ready_indexes()):
            if time.monotonic() > deadline:
                missing = ", ".join(sorted(set(wanted) - ready))
                raise AerospikeStoreError(
                    f"Aerospike at {self.config.where}: index(es) {missing} not built after"
                    f" {within:.0f} s"
                )
            await asyncio.sleep(0.05)

    async def drop(self) -> None:
        """Remove every index and record under this prefix (for tests and decommissioning)."""
        ns = self.config.namespace
        for kind, bin_name, _type in _INDEXES:
            name = self._index_name(kind, bin_name)
            await self._info(f"sindex-delete:namespace={ns};indexname={name}")
        for name in self._sets.values():
            await self._call(f"truncating {name}", self._client.truncate, ns, name, 0)

    async def close(self) -> None:
        client, pool = self._client, self._pool
        self._client = self._pool = None
        if client is not None and pool is not None:
            await asyncio.get_running_loop().run_in_executor(pool, client.close)
        if pool is not None:
            pool.shutdown(wait=True)

    async def _query(self, kind: str, predicate: Any, *bins: str, where: Any = None) -> list[_Row]:
        """(key, bins) of the records of one set matching an indexed predicate (all when None),
        further filtered by the expression `where`; only `bins` are read when given."""
        policy: dict[str, Any] = {"total_timeout": self.config.timeout_ms * 30}
        if where is not None:
            policy["expressions"] = where.compile()

        def run() -> list[_Row]:
            query = self._client.query(self.config.namespace, self._sets[kind])
            if bins:
                query.select(*bins)
            if predicate is not None:
                query.where(predicate)
            return [
                _Row(key, int(meta["gen"]), found) for key, meta, found in query.results(policy)
            ]

        return await self._call(f"querying {self._sets[kind]}", run)

    async def _remove(self, kind: str, user_key: str) -> None:
        with contextlib.suppress(aex.RecordNotFound):
            await self._call(
                f"removing from {self._sets[kind]}",
                self._client.remove,
                self._key(kind, user_key),
                expect=(aex.RecordNotFound,),
            )

    async def _write(self, kind: str, user_key: str, bins: dict[str, Any], ttl: int) -> None:
        """Create the record, or leave an existing one as it is (insert-or-ignore)."""
        policy = {"exists": aerospike.POLICY_EXISTS_CREATE, "ttl": ttl}
        with contextlib.suppress(aex.RecordExistsError):
            await self._call(
                f"writing to {self._sets[kind]}",
                self._client.put,
                *(self._key(kind, user_key), bins, None, policy),
                expect=(aex.RecordExistsError,),
            )

    async def _replace(self, kind: str, user_key: str, bins: dict[str, Any]) -> None:
        key = self._key(kind, user_key)
        policy = {"ttl": _NEVER}
        await self._call(
            f"writing to {self._sets[kind]}", self._client.put, key, bins, None, policy
        )

    def _ttl(self, expires_at: float | None) -> int:
        if expires_at is None:
            return _NEVER
        return max(self.config.min_ttl, math.ceil(expires_at - time.time()))

    # ------------------------------------------------------------------ instances

    async def get(self, instance_id: str) -> StoredInstance | None:
        try:
            _key, meta, bins = await self._call(
                "reading an instance",
                self._client.get,
                self._key("inst", instance_id),
                expect=(aex.RecordNotFound,),
            )
        except aex.RecordNotFound:
            return None
        return _instance(bins, int(meta["gen"]))

    async def put(self, record: StoredInstance, expected_generation: int) -> int | None:
        bins: dict[str, Any] = {
            "id": record.id,
            "wf": record.workflow,
            "status": record.status,
            "data": bytearray(record.data),
            "upd": float(record.updated_at),
            "outbox": int(record.outbox),
            "exp": aerospike.null() if record.expires_at is None else _ms(record.expires_at),
            "expf": aerospike.null() if record.expires_at is None else float(record.expires_at),
        }
        meta: dict[str, int] = {}
        policy = {"ttl": self._ttl(record.expires_at), "exists": aerospike.POLICY_EXISTS_CREATE}
        if expected_generation != 0:
            meta["gen"] = expected_generation
            policy["gen"] = aerospike.POLICY_GEN_EQ
            policy["exists"] = aerospike.POLICY_EXISTS_UPDATE
        lost = (aex.RecordGenerationError, aex.RecordExistsError, aex.RecordNotFound)
        try:
            _key, new_meta, _bins = await self._call(
                f"writing instance {record.id}",
                self._client.operate,
                self._key("inst", record.id),
                [ops.write(name, value) for name, value in bins.items()],
                meta,
                policy,
                expect=lost,
            )
        except lost:
            return None
        return int(new_meta["gen"])

    async def list(
        self, workflow: str | None, status: str | None, limit: int, cursor: str | None
    ) -> Page:
        conditions = []
        if workflow is not None:
            conditions.append(exp.Eq(exp.StrBin("wf"), workflow))
        if status is not None:
            conditions.append(exp.Eq(exp.StrBin("status"), status))
        if cursor is not None:
            conditions.append(exp.GT(exp.StrBin("id"), cursor))
        predicate = None
        if status is not None:
            predicate = predicates.equals("status", status)
        elif workflow is not None:
            predicate = predicates.equals("wf", workflow)
        rows = await self._query("inst", predicate, where=_all_of(conditions))
        chosen = sorted(rows, key=lambda r: str(r.bins["id"]))
        items = tuple(_instance(r.bins, r.gen) for r in chosen[:limit])
        return Page(items, items[-1].id if len(chosen) > limit and items else None)

    async def with_outbox(self, limit: int) -> Sequence[str]:
        rows = await self._query("inst", predicates.equals("outbox", 1), "id")
        return sorted(str(r.bins["id"]) for r in rows)[:limit]

    # ------------------------------------------------------------------ correlation index

    async def add_wait(self, topic: str, key: str, instance_id: str) -> None:
        tk = f"{topic}{_SEP}{key}"
        await self._replace("wait", f"{tk}{_SEP}{instance_id}", {"tk": tk, "iid": instance_id})

    async def remove_wait(self, topic: str, key: str, instance_id: str) -> None:
        await self._remove("wait", f"{topic}{_SEP}{key}{_SEP}{instance_id}")

    async def waiters(self, topic: str, key: str) -> Sequence[str]:
        rows = await self._query("wait", predicates.equals("tk", f"{topic}{_SEP}{key}"), "iid")
        return sorted(str(r.bins["iid"]) for r in rows)

    # ------------------------------------------------------------------ timers

    async def add_timer(self, timer: DueTimer) -> None:
        bins = {
            "iid": timer.instance_id,
            "tid": timer.timer_id,
            "due": _ms(timer.due),
            "duef": timer.due,
        }
        self._far = None
        await self._replace("timer", f"{timer.instance_id}{_SEP}{timer.timer_id}", bins)

    async def remove_timer(self, instance_id: str, timer_id: str) -> None:
        await self._remove("timer", f"{instance_id}{_SEP}{timer_id}")

    async def due_timers(self, now: float, limit: int) -> Sequence[DueTimer]:
        rows = await self._query("timer", predicates.between("due", _LOW, _ms(now)))
        timers = sorted(
            (t for t in (_timer(r.bins) for r in rows) if t.due <= now),
            key=lambda t: (t.due, t.instance_id, t.timer_id),
        )
        return timers[:limit]

    async def next_due(self) -> float | None:
        """Exact for timers due within `_NEAR` seconds (asked every call); a later one may be
        up to `_FAR_CACHE` seconds stale when another worker set it."""
        now = time.time()
        near = await self._query("timer", predicates.between("due", _LOW, _ms(now + _NEAR)), "duef")
        if near:
            return min(float(r.bins["duef"]) for r in near)
        if self._far is None or now - self._far[0] > _FAR_CACHE:
            rows = await self._query("timer", predicates.between("due", _LOW, _HIGH), "duef")
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
            "at": time.time_ns(),
            "seq": next(self._arrivals),
        }
        await self._write(
            "early", f"{tk}{_SEP}{message.message_id}", bins, self._ttl(message.expires_at)
        )

    async def take_early(self, topic: str, key: str) -> Sequence[EarlyMessage]:
        rows = await self._query("early", predicates.equals("tk", f"{topic}{_SEP}{key}"))
        now = time.time()
        kept = sorted(
            (r.bins for r in rows if r.bins["expf"] > now), key=lambda b: (b["at"], b["seq"])
        )
        return [
            EarlyMessage(topic, key, str(b["mid"]), bytes(b["val"]), float(b["expf"])) for b in kept
        ]

    async def remove_early(self, topic: str, key: str, message_id: str) -> None:
        await self._remove("early", f"{topic}{_SEP}{key}{_SEP}{message_id}")

    async def purge(self, now: float) -> int:
        past = predicates.between("exp", _LOW, _ms(now))
        gone = [
            r.key
            for kind in ("early", "inst")
            for r in await self._query(kind, past, "expf")
            if float(r.bins["expf"]) <= now
        ]
        if not gone:
            return 0
        result = await self._call("purging expired records", self._client.batch_remove, gone)
        return sum(1 for r in result.batch_records if r.result == 0)


def _client_config(cfg: AerospikeConfig) -> dict[str, Any]:
    timeout = {"total_timeout": cfg.timeout_ms}
    conf: dict[str, Any] = {
        "hosts": list(cfg.hosts),
        "policies": {
            kind: dict(timeout) for kind in ("read", "write", "operate", "remove", "batch")
        }
        | {"info": {"timeout": cfg.timeout_ms}},
        "max_conns_per_node": max(cfg.pool_size, 16),
    }
    if cfg.user:
        conf["user"], conf["password"] = cfg.user, cfg.password or ""
    return conf


def _all_of(conditions: list[Any]) -> Any:
    if not conditions:
        return None
    return conditions[0] if len(conditions) == 1 else exp.And(*conditions)


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
