"""The Aerospike store's connection: URL and settings, the synchronous official client run in a
bounded thread pool, retries of transient failures only, errors that name the server and the call,
and the secondary indexes the store queries (created by info command, awaited until built).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

import aerospike
from aerospike import exception as aex
from attrs import frozen

from runtime.types import BackendError, RecordRefused, Unavailable
from runtime.urls import redacted

T = TypeVar("T")
NEVER = -1  # the record TTL meaning "never expire", whatever the namespace's default TTL
# Worth another try: timeout (9), hot key (14), device overload (18), cluster change or partition
# unavailable (7, 11), connection trouble (-10, -7, -8, -15; -14: the client's error-rate back-off),
# query or batch queue full (211, 212, 152), index still being built (203). All else is final.
RECORD_TOO_BIG = 13
TRANSIENT = frozenset({9, 14, 18, 7, 11, -10, -7, -8, -15, -14, 211, 212, 152, 203})
_URL_KEYS = frozenset({"prefix", "timeout_ms", "pool"})


def _transient(exc: Exception) -> bool:
    """Timeouts, lost connections, a node being tended: worth trying again. A client that lost
    sight of every node (the server paused or restarting) says "cluster is empty", under code 1."""
    code, msg = getattr(exc, "code", None), str(getattr(exc, "msg", None) or exc)
    return code in TRANSIENT or "cluster is empty" in msg


class AerospikeStoreError(BackendError):
    """The server is unreachable, the namespace is missing, or a call failed for good."""


class AerospikeUnavailable(AerospikeStoreError, Unavailable):
    """A call kept timing out or losing its connection, every attempt: the server may be back
    soon (the engine waits and tries again)."""


@frozen
class AerospikeConfig:
    hosts: tuple[tuple[str, int], ...]
    namespace: str
    prefix: str = "dagger_"
    user: str | None = None
    password: str | None = None
    timeout_ms: int = 1000
    pool_size: int = 16
    attempts: int = 3  # per call, counting the first; only transient failures are tried again
    min_ttl: int = 5  # seconds: a record written already past its expiry stays this long

    def __attrs_post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_]{0,40}", self.prefix):
            raise ValueError(
                f"the Aerospike prefix must be at most 40 letters, digits or '_'"
                f" (got {self.prefix!r})"
            )

    @property
    def where(self) -> str:
        return ",".join(f"{h}:{p}" for h, p in self.hosts)

    @classmethod
    def from_url(cls, url: str) -> AerospikeConfig:
        """`aerospike://[user:password@]host:port[,host:port]/namespace?prefix=&timeout_ms=&pool=`"""
        parts = urlsplit(url)
        shown = redacted(url)
        if parts.scheme != "aerospike":
            raise ValueError(f"expected an aerospike:// URL (got {shown!r})")
        namespace = parts.path.strip("/")
        if not namespace:
            raise ValueError(f"the Aerospike URL names no namespace: {shown!r} (add /namespace)")
        netloc = parts.netloc.rsplit("@", 1)[-1]
        hosts = tuple(_host(h, shown) for h in netloc.split(",") if h)
        if not hosts:
            raise ValueError(f"the Aerospike URL names no host: {shown!r}")
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        unknown = sorted(set(query) - _URL_KEYS)
        if unknown:
            raise ValueError(
                f"the Aerospike URL {shown!r} has unknown option(s) {', '.join(unknown)}"
                f" (known: {', '.join(sorted(_URL_KEYS))})"
            )
        return cls(
            hosts=hosts,
            namespace=namespace,
            prefix=query.get("prefix", "dagger_"),
            user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            timeout_ms=_positive(query, "timeout_ms", 1000, shown),
            pool_size=_positive(query, "pool", 16, shown),
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


class Row(NamedTuple):
    """One record found by a query."""

    key: Any
    gen: int
    bins: dict[str, Any]


class Index(NamedTuple):
    kind: str  # which set: "inst", "early"
    bin: str
    type: str  # "string" or "numeric"
    collection: str = "default"  # or "list" (each item of a list), "mapvalues" (each map value)


class Connection:
    """One client, its thread pool, and the server calls the store makes through them."""

    def __init__(
        self, config: AerospikeConfig, sets: Mapping[str, str], indexes: tuple[Index, ...]
    ) -> None:
        self.config = config
        self.sets = dict(sets)
        self.indexes = indexes
        self.round_trips = 0  # calls sent to the server, retries included
        self._pool: ThreadPoolExecutor | None = None
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            raise AerospikeStoreError(
                f"the Aerospike store at {self.config.where} is not started: call start() first"
            )
        return self._client

    async def open(self, *, prepare: bool) -> None:
        if self._client is not None:
            return
        cfg = self.config
        self._pool = ThreadPoolExecutor(cfg.pool_size, thread_name_prefix="aerospike")
        try:
            self._client = await asyncio.get_running_loop().run_in_executor(
                self._pool, functools.partial(aerospike.client, _client_config(cfg))
            )
        except aex.AerospikeError as exc:
            await self.close()
            msg = getattr(exc, "msg", None) or exc
            denied = (aex.InvalidPassword, aex.InvalidUser, aex.NotAuthenticated)
            error = AerospikeStoreError if isinstance(exc, denied) else AerospikeUnavailable
            raise error(f"cannot reach Aerospike at {cfg.where}: {msg}") from exc
        try:
            await self._check_namespace()
            if prepare:
                await self._create_indexes()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        client, pool = self._client, self._pool
        self._client = self._pool = None
        if client is not None and pool is not None:
            await asyncio.get_running_loop().run_in_executor(pool, client.close)
        if pool is not None:
            pool.shutdown(wait=True)

    # ------------------------------------------------------------------ calls

    async def call(
        self,
        what: str,
        fn: Callable[..., T],
        *args: Any,
        expect: tuple[type[Exception], ...] = (),
        retried: Callable[[], None] = lambda: None,
    ) -> T:
        """Run one client call in the pool, trying transient failures again (`retried` is told).
        `expect`ed errors reach the caller as they are; every other one as AerospikeStoreError."""
        if self._client is None or self._pool is None:
            raise AerospikeStoreError(
                f"the Aerospike store at {self.config.where} is not started: call start() first"
            )
        loop, call = asyncio.get_running_loop(), functools.partial(fn, *args)
        for attempt in range(1, self.config.attempts + 1):
            self.round_trips += 1
            try:
                return await loop.run_in_executor(self._pool, call)
            except expect:
                raise
            except aex.RecordTooBig as exc:
                raise RecordRefused(str(self._error(what, exc, ""))) from exc
            except aex.AerospikeError as exc:
                if not _transient(exc):
                    raise self._error(what, exc, "") from exc
                if attempt == self.config.attempts:
                    error = self._error(what, exc, f" (tried {attempt} times)")
                    raise AerospikeUnavailable(str(error)) from exc
                retried()
                await asyncio.sleep(0.02 * 2**attempt)
        raise AssertionError("unreachable")

    async def batch(
        self,
        what: str,
        fn: Callable[..., Any],
        records: Any,
        count: int,
        *,
        retried: Callable[[], None] = lambda: None,
    ) -> Any:
        """A batch call (`call`) that answered for each of its `count` records. One cut short
        (the client lost sight of the cluster midway) is AerospikeUnavailable: its writes may or
        may not have landed, as after a crash, and the engine tries the step again later."""
        done = await self.call(what, fn, records, retried=retried)
        got = len(done.batch_records)
        if got != count:
            raise AerospikeUnavailable(
                f"Aerospike at {self.config.where}: {what} answered for {got} of {count}"
                f" records (result {done.result})"
            )
        return done

    def _error(self, what: str, exc: Exception, tail: str) -> AerospikeStoreError:
        code, msg = getattr(exc, "code", None), getattr(exc, "msg", None) or str(exc)
        hint = ""
        if isinstance(exc, aex.ForbiddenError):
            hint = f"; namespace {self.config.namespace!r} refuses TTLs: give it an nsup-period"
        elif isinstance(exc, aex.RecordTooBig):
            hint = f"; the record exceeds max-record-size of namespace {self.config.namespace!r}"
        return AerospikeStoreError(
            f"Aerospike at {self.config.where}: {what} failed with {type(exc).__name__}"
            f" ({code}): {msg}{tail}{hint}"
        )

    def check(self, what: str, result: int, fine: frozenset[int] = frozenset()) -> None:
        """Raise for the result code of one record of a batch, unless it is 0 or `fine`."""
        if result != 0 and result not in fine:
            raise AerospikeStoreError(
                f"Aerospike at {self.config.where}: {what} failed with result code {result}"
            )

    def key(self, kind: str, user_key: str) -> tuple[str, str, str]:
        return (self.config.namespace, self.sets[kind], user_key)

    async def query(self, kind: str, predicate: Any, *bins: str, where: Any = None) -> list[Row]:
        """The records of one set matching an indexed predicate (all when None), further
        filtered by the expression `where`; only `bins` are read when given."""
        policy: dict[str, Any] = {"total_timeout": self.config.timeout_ms * 30}
        if where is not None:
            policy["expressions"] = where.compile()

        def run() -> list[Row]:
            query = self._client.query(self.config.namespace, self.sets[kind])
            if bins:
                query.select(*bins)
            if predicate is not None:
                query.where(predicate)
            return [Row(key, int(meta["gen"]), found) for key, meta, found in query.results(policy)]

        return await self.call(f"querying {self.sets[kind]}", run)

    async def remove(self, kind: str, user_key: str) -> None:
        with contextlib.suppress(aex.RecordNotFound):
            await self.call(
                f"removing from {self.sets[kind]}",
                self._client.remove,
                self.key(kind, user_key),
                expect=(aex.RecordNotFound,),
            )

    async def create(self, kind: str, user_key: str, bins: dict[str, Any], ttl: int) -> None:
        """Write the record unless it exists (insert-or-ignore)."""
        policy = {"exists": aerospike.POLICY_EXISTS_CREATE, "ttl": ttl}
        with contextlib.suppress(aex.RecordExistsError):
            await self.call(
                f"writing to {self.sets[kind]}",
                self._client.put,
                *(self.key(kind, user_key), bins, None, policy),
                expect=(aex.RecordExistsError,),
            )

    async def replace(self, kind: str, user_key: str, bins: dict[str, Any]) -> None:
        """Write the record whether it exists or not, never to expire."""
        key, policy = self.key(kind, user_key), {"ttl": NEVER}
        await self.call(f"writing to {self.sets[kind]}", self._client.put, key, bins, None, policy)

    # ------------------------------------------------------------------ namespace and indexes

    async def _check_namespace(self) -> None:
        answers = await self._info("namespaces")
        names = [n for n in (answers[0] if answers else "").split(";") if n]
        if self.config.namespace not in names:
            raise AerospikeStoreError(
                f"Aerospike at {self.config.where} has no namespace {self.config.namespace!r}"
                f" (it has: {', '.join(names) or 'none'}); fix the URL's /namespace"
            )

    async def _info(self, command: str) -> list[str]:
        """Ask every node; their answers."""
        replies = await self.call(command.split(":", 1)[0], self._client.info_all, command)
        return [str(answer).strip() for _err, answer in replies.values()]

    def index_name(self, index: Index) -> str:
        return f"{self.config.prefix}{index.kind}_{index.bin}"

    async def _ready_indexes(self) -> set[str]:
        """Names of the indexes built (state RW) on every node."""
        answers = await self._info(f"sindex-list:ns={self.config.namespace}")
        found = [set(re.findall(r"indexname=([^:;]+):[^;]*state=RW", a)) for a in answers]
        return set.intersection(*found) if found else set()

    async def _create_indexes(self, within: float = 30.0) -> None:
        """Create the missing indexes, then wait until every node has built them."""
        ready, ns = await self._ready_indexes(), self.config.namespace
        wanted = {self.index_name(i): i for i in self.indexes}
        for name, i in wanted.items():
            if name in ready:
                continue
            answers = await self._info(
                f"sindex-create:namespace={ns};set={self.sets[i.kind]};indexname={name};"
                f"bin={i.bin};type={i.type};indextype={i.collection}"
            )
            if not answers or not answers[0].startswith("ok"):
                raise AerospikeStoreError(
                    f"Aerospike at {self.config.where} cannot create index {name}: {answers}"
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
        """Remove every index and record under this prefix: indexes first (a namespace has room
        for few), then the records."""
        ns = self.config.namespace
        for index in self.indexes:
            await self._info(f"sindex-delete:namespace={ns};indexname={self.index_name(index)}")
        for name in self.sets.values():
            await self.call(f"truncating {name}", self._client.truncate, ns, name, 0)


def _client_config(cfg: AerospikeConfig) -> dict[str, Any]:
    timeout = {"total_timeout": cfg.timeout_ms}
    policies: dict[str, Any] = {
        kind: dict(timeout) for kind in ("read", "write", "operate", "remove", "batch")
    }
    policies["info"] = {"timeout": cfg.timeout_ms}
    conf: dict[str, Any] = {
        "hosts": list(cfg.hosts),
        "policies": policies,
        "max_conns_per_node": max(cfg.pool_size, 16),
    }
    if cfg.user:
        conf["user"], conf["password"] = cfg.user, cfg.password or ""
    return conf
