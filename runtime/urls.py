"""Backend URLs -> a Broker and a Store. Nothing is opened here: `start()` does the I/O.

| URL                            | broker                | store            |
|--------------------------------|-----------------------|------------------|
| `memory://`                    | MemoryBroker          | MemoryStore      |
| `sqlite:///rel.db`, `sqlite:////abs.db` | the log table | the other tables (same file: one connection) |
| `kafka://host:9092[,host:9092]`| KafkaBroker           | - (needs a store URL) |
| `aerospike://host:3000/ns`     | -                     | AerospikeStore   |
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

from runtime.backends.memory import MemoryBroker, MemoryStore
from runtime.backends.sqlite import SqliteBroker, SqliteStore, open_sqlite
from runtime.types import Broker, Store

BROKER_SCHEMES = ("memory", "sqlite", "kafka")
STORE_SCHEMES = ("memory", "sqlite", "aerospike")


class UrlError(ValueError):
    """A broker or store URL that names no backend this runtime has."""


def redacted(url: str) -> str:
    """`url` with the password of its user, if it names one, shown as `***` (for logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, hosts = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hosts}"))


def _scheme(url: str, role: str, allowed: tuple[str, ...]) -> str:
    scheme = urlsplit(url).scheme
    if scheme not in allowed:
        choices = ", ".join(f"{s}://" for s in allowed)
        raise UrlError(f"{role} URL {url!r}: scheme must be one of {choices}")
    return scheme


def open_backends(url: str, store_url: str | None = None) -> tuple[Broker, Store]:
    """The broker named by `url` and the store named by `store_url` (default: `url` itself,
    which works for memory:// and sqlite:///, where one place holds both)."""
    broker_scheme = _scheme(url, "broker", BROKER_SCHEMES)
    if store_url is None:
        if broker_scheme == "kafka":
            raise UrlError(
                f"{url} is a broker only: give a store URL too "
                "(e.g. store_url='aerospike://127.0.0.1:3000/dagger' or 'sqlite:///dagger.db')"
            )
        store_url = url
    store_scheme = _scheme(store_url, "store", STORE_SCHEMES)
    if broker_scheme == "sqlite" and store_scheme == "sqlite":
        with _url_errors():
            return open_sqlite(url, store_url)
    return broker_from_url(url), store_from_url(store_url)


@contextlib.contextmanager
def _url_errors() -> Iterator[None]:
    """A backend's own URL parser rejects a host, option or value with a ValueError: UrlError."""
    try:
        yield
    except UrlError:
        raise
    except ValueError as exc:
        raise UrlError(str(exc)) from exc


def broker_from_url(url: str) -> Broker:
    with _url_errors():
        return _broker(url)


def store_from_url(url: str) -> Store:
    with _url_errors():
        return _store(url)


def _broker(url: str) -> Broker:
    scheme = _scheme(url, "broker", BROKER_SCHEMES)
    if scheme == "memory":
        return MemoryBroker()
    if scheme == "sqlite":
        return SqliteBroker.from_url(url)
    # aiokafka loads only for a kafka:// URL
    from runtime.backends.kafka import kafka_broker_from_url  # noqa: PLC0415

    broker: Broker = kafka_broker_from_url(url)
    return broker


def _store(url: str) -> Store:
    scheme = _scheme(url, "store", STORE_SCHEMES)
    if scheme == "memory":
        return MemoryStore()
    if scheme == "sqlite":
        return SqliteStore.from_url(url)
    # the aerospike client is an optional extra: imported only for an aerospike:// URL
    from runtime.backends.aerospike import AerospikeStore  # noqa: PLC0415

    store: Store = AerospikeStore.from_url(url)
    return store
