"""Copying the write-ahead log back into the database file, off the event loop.

In WAL mode every commit appends the pages it changed to `<file>-wal`; a checkpoint copies them
back into the database file and syncs it. SQLite's own rule runs that checkpoint inside the commit
that makes the log pass 1,000 pages, on the committing thread: for the engine that is the event
loop, blocked for the copy and the fsync (about half of the time its commits took under load).

`Checkpointer` runs a passive checkpoint every `every` seconds from a thread and a connection of its
own: SQLite releases the GIL while it copies and syncs, so the loop goes on. A passive checkpoint
never blocks a reader or a writer (it copies what no reader still needs and leaves the rest for the
next one). The committing connection keeps an automatic checkpoint at `LOG_BOUND_PAGES` as a bound:
if the thread falls behind, the log still stops growing there. Each process that opens the file
runs its own; two at once simply take turns (the second finds the checkpoint lock taken and waits
for its next tick).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger(__name__)

LOG_BOUND_PAGES = 4000  # 16 MB of 4 KiB pages: where a committing connection checkpoints itself
EVERY_S = 0.05


class Checkpointer:
    """A daemon thread checkpointing `path` every `every` seconds until `stop()`."""

    def __init__(self, path: Path, every: float = EVERY_S) -> None:
        self.path = path
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"dagger-sqlite-checkpoint {path.name}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop after the checkpoint under way, if any; its connection is closed on return."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            while not self._stop.wait(self.every):
                self._checkpoint(conn)
        finally:
            conn.close()

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:  # busy (another process checkpoints), or a full disk
            log.debug("checkpoint of %s skipped: %s", self.path, exc)
