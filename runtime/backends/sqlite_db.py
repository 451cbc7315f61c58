"""One SQLite file shared by the SQLite broker and store: schema, connection, group commit.

Durability: WAL with `synchronous=NORMAL`, so a committed write survives `kill -9` of the process
(not a power cut). Several processes may open the same file; writers take the lock with
`BEGIN IMMEDIATE` and wait up to `busy_timeout` for each other.

Checkpoints (copying the log back into the file) run in a thread of their own: sqlite_wal.py.

Group commit: every write runs at once, inside a savepoint of a transaction that stays open until the
end of the current event-loop iteration, and the writer resumes only after that transaction commits.
Many concurrent writers (hundreds of instances moving at once) therefore share one commit, and a
write's caller still never acts on anything that is not durable. Statements run on the event-loop
thread: each takes microseconds, and a thread hop would cost more than the statement.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import parse_qs, urlsplit

from runtime.backends.memory import Notifier
from runtime.backends.sqlite_wal import LOG_BOUND_PAGES, Checkpointer
from runtime.types import BackendError

T = TypeVar("T")

_DEFERRED: contextvars.ContextVar[list[asyncio.Future[None]] | None] = contextvars.ContextVar(
    "dagger_sqlite_deferred", default=None
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    id TEXT PRIMARY KEY, workflow TEXT NOT NULL, status TEXT NOT NULL, data BLOB NOT NULL,
    generation INTEGER NOT NULL, updated_at REAL NOT NULL, outbox INTEGER NOT NULL,
    expires_at REAL
);
CREATE INDEX IF NOT EXISTS instances_by_workflow ON instances(workflow, id);
CREATE INDEX IF NOT EXISTS instances_by_status ON instances(status, id);
CREATE INDEX IF NOT EXISTS instances_with_outbox ON instances(id) WHERE outbox = 1;
CREATE INDEX IF NOT EXISTS instances_by_expiry ON instances(expires_at)
    WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS waits (
    topic TEXT NOT NULL, key TEXT NOT NULL, instance_id TEXT NOT NULL,
    PRIMARY KEY (topic, key, instance_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS timers (
    instance_id TEXT NOT NULL, timer_id TEXT NOT NULL, due REAL NOT NULL,
    PRIMARY KEY (instance_id, timer_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS timers_by_due ON timers(due);
CREATE TABLE IF NOT EXISTS early (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, key TEXT NOT NULL,
    message_id TEXT NOT NULL, value BLOB NOT NULL, expires_at REAL NOT NULL,
    UNIQUE (topic, key, message_id)
);
CREATE INDEX IF NOT EXISTS early_by_expiry ON early(expires_at);
CREATE TABLE IF NOT EXISTS log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, key TEXT NOT NULL,
    value BLOB NOT NULL, headers BLOB NOT NULL, at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS log_by_topic ON log(topic, seq);
CREATE TABLE IF NOT EXISTS offsets (
    grp TEXT NOT NULL, topic TEXT NOT NULL, next INTEGER NOT NULL, PRIMARY KEY (grp, topic)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS leases (
    grp TEXT NOT NULL, topic TEXT NOT NULL, owner TEXT NOT NULL, host TEXT NOT NULL,
    pid INTEGER NOT NULL, expires_at REAL NOT NULL, PRIMARY KEY (grp, topic)
) WITHOUT ROWID;
"""


def _busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc)
    return "locked" in text or "busy" in text


class SqliteUrlError(ValueError):
    """A `sqlite:///path.db` URL that cannot be used."""


def path_from_url(url: str) -> tuple[Path, dict[str, str]]:
    """`sqlite:///rel/path.db` (relative), `sqlite:////abs/path.db`; options as the query string."""
    parts = urlsplit(url)
    if parts.scheme != "sqlite":
        raise SqliteUrlError(f"expected a sqlite:/// URL (got {url!r})")
    if parts.netloc:
        raise SqliteUrlError(f"sqlite URLs have no host: use sqlite:///{parts.netloc}{parts.path}")
    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    if not path:
        raise SqliteUrlError(f"the sqlite URL {url!r} names no file (try sqlite:///dagger.db)")
    options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    return Path(path), options


class SqliteDatabase:
    """A reference-counted connection to one file, shared by the broker and the store."""

    def __init__(
        self, path: Path, busy_timeout: float = 10.0, log_bound_pages: int = LOG_BOUND_PAGES
    ) -> None:
        self.path = path
        self.log_bound_pages = log_bound_pages  # see sqlite_wal.py
        self._busy_ms = int(busy_timeout * 1000)
        self._conn: sqlite3.Connection | None = None
        self._checkpointer: Checkpointer | None = None  # copies the log back, off the loop
        self._users = 0
        self._txn: asyncio.Future[None] | None = None  # done when the open transaction commits
        self._pins = 0  # deferred blocks under way
        self.appended = Notifier()  # in-process consumers wake at once on a local send

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError(f"the SQLite database {self.path} is not open: call start() first")
        return self._conn

    def open(self) -> None:
        if self._users == 0:
            try:
                self._conn = self._connect()
            except (OSError, sqlite3.Error) as exc:
                raise BackendError(f"cannot open the SQLite file {self.path}: {exc}") from exc
            self._checkpointer = Checkpointer(self.path)
            self._checkpointer.start()
        self._users += 1

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.executescript("BEGIN IMMEDIATE;" + SCHEMA + "COMMIT;")
            conn.execute("PRAGMA busy_timeout = 0")  # from now on, waits are ours (see _patiently)
            conn.execute(f"PRAGMA wal_autocheckpoint = {int(self.log_bound_pages)}")
        except BaseException:
            conn.close()
            raise
        return conn

    def close(self) -> None:
        self._users -= 1
        if self._users > 0 or self._conn is None:
            return
        self._commit()
        if self._checkpointer is not None:
            self._checkpointer.stop()  # first: the last connection to close removes the log
            self._checkpointer = None
        self._conn.close()
        self._conn = None

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        """A read; inside this process it also sees writes waiting for their group commit."""
        conn = self.conn
        rows: list[tuple[object, ...]] = self._patiently(
            lambda: conn.execute(sql, params).fetchall()
        )
        return rows

    def _patiently(self, fn: Callable[[], T]) -> T:
        """Run `fn`, retrying while the file is busy. In WAL mode reads and commits almost never
        are (another connection recovering the WAL); the wait blocks, so it stays short."""
        pause, waited = 0.0005, 0.0
        while True:
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                if not _busy(exc) or waited >= self._busy_ms / 1000:
                    raise
                time.sleep(pause)
                waited += pause
                pause = min(pause * 2, 0.01)

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` atomically and return once it is committed (shared with concurrent writers).
        Inside `deferred()`, return at once: the block's end waits for the commit."""
        conn = self.conn
        if not conn.in_transaction:
            await self._begin(conn)
        try:
            result = fn(conn)
        except BaseException:
            self._abort()
            raise
        txn = self._txn
        assert txn is not None
        collected = _DEFERRED.get()
        if collected is not None:
            collected.append(txn)
        else:
            await asyncio.shield(txn)
        return result

    @contextlib.asynccontextmanager
    async def deferred(self) -> AsyncIterator[None]:
        """Writes in this block (and in tasks it starts) do not wait for their commit one by one;
        the block ends once all of them are committed. So a transition, the messages it sends and
        the clearing of its outbox share one commit. Do nothing outside this file in the block."""
        collected: list[asyncio.Future[None]] = []
        token = _DEFERRED.set(collected)
        self._pins += 1  # no commit splits the block, even if it waits for something
        try:
            yield
        except BaseException:
            if self._txn is not None and self._txn in collected:
                self._abort()  # never commit half a block (other writers in it fail too)
            raise
        finally:
            self._pins -= 1
            _DEFERRED.reset(token)
        for txn in dict.fromkeys(collected):
            await asyncio.shield(txn)

    async def _begin(self, conn: sqlite3.Connection) -> None:
        """Take the write lock without blocking the event loop: when another connection holds it
        (another process, or another engine of this one, whose commit needs this loop to run),
        try again after a growing pause, for up to `busy_timeout` in all."""
        pause, waited = 0.001, 0.0
        while not conn.in_transaction:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if not _busy(exc) or waited >= self._busy_ms / 1000:
                    raise
                await asyncio.sleep(pause)
                waited += pause
                pause = min(pause * 2, 0.05)
                continue
            loop = asyncio.get_running_loop()
            self._txn = loop.create_future()
            loop.call_soon(self._commit)

    def _abort(self) -> None:
        """A statement failed (no statement here is expected to: writes are idempotent upserts):
        roll back the open transaction; every write in it fails with the error."""
        txn, self._txn = self._txn, None
        with contextlib.suppress(sqlite3.Error):
            self.conn.execute("ROLLBACK")
        if txn is not None and not txn.done():
            error = RuntimeError(f"a write to {self.path} failed; its transaction was rolled back")
            txn.set_exception(error)
            txn.exception()  # the failing writer raises its own error; others see this one

    def _commit(self) -> None:
        if self._pins and self._conn is not None:
            asyncio.get_running_loop().call_soon(self._commit)  # a deferred block is mid-way
            return
        txn, self._txn = self._txn, None
        conn = self._conn
        error: Exception | None = None
        if conn is not None and conn.in_transaction:
            try:
                self._patiently(lambda: conn.execute("COMMIT"))
            except sqlite3.Error as exc:
                error = exc
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
        elif conn is None:
            error = RuntimeError(f"the SQLite database {self.path} was closed before a commit")
        if txn is None or txn.done():
            return
        if error is None:
            txn.set_result(None)
        else:
            txn.set_exception(error)
