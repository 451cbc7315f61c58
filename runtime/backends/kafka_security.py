"""TLS and SASL for `kafka://` URLs: what a managed or secured Kafka cluster asks of a client.

    kafka://k1:9093?security_protocol=SSL&ssl_cafile=/etc/kafka/ca.pem
    kafka://orders@k1:9093?sasl_mechanism=SCRAM-SHA-512      (password in DAGGER_KAFKA_PASSWORD)
    kafka://orders:secret@k1:9092?security_protocol=SASL_PLAINTEXT

A user name in the URL means SASL, over TLS unless `security_protocol` says SASL_PLAINTEXT. Its
password comes from the URL or, kept off command lines and out of process listings, from the
environment variable DAGGER_KAFKA_PASSWORD. `ssl_cafile` (PEM) holds the authority the brokers'
certificates must chain to (default: the system's); `ssl_certfile` and `ssl_keyfile` present a
client certificate (mutual TLS). Broker host names are always checked against their certificates.
Mistakes are found when the URL is read: an unknown protocol or mechanism, SASL without a user or a
password, TLS files with a protocol that has no TLS, a file that does not exist.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from attrs import field, frozen

from runtime.urls import redacted

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
OPTIONS = ("security_protocol", "sasl_mechanism", "ssl_cafile", "ssl_certfile", "ssl_keyfile")
PASSWORD_ENV = "DAGGER_KAFKA_PASSWORD"
_FILES = ("ssl_cafile", "ssl_certfile", "ssl_keyfile")


@frozen(kw_only=True)
class KafkaSecurity:
    """How clients connect: in the clear (the default), over TLS, with SASL, or both."""

    protocol: str = "PLAINTEXT"
    mechanism: str = "PLAIN"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    cafile: str | None = None
    certfile: str | None = None
    keyfile: str | None = None

    @property
    def tls(self) -> bool:
        return self.protocol in {"SSL", "SASL_SSL"}

    @property
    def sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    @classmethod
    def from_url(
        cls,
        url: str,
        username: str | None,
        password: str | None,
        query: Mapping[str, str],
        env: Mapping[str, str] = os.environ,
    ) -> KafkaSecurity:
        """The security a URL asks for (`username`/`password` from its netloc, still quoted)."""
        user = unquote(username) if username else None
        files = {name: query[name] for name in _FILES if query.get(name)}
        protocol = _choice(url, "security_protocol", query, PROTOCOLS)
        if protocol is None:
            protocol = "SASL_SSL" if user else "SSL" if files else "PLAINTEXT"
        mechanism = _choice(url, "sasl_mechanism", query, MECHANISMS) or "PLAIN"
        security = cls(
            protocol=protocol,
            mechanism=mechanism,
            username=user,
            password=unquote(password) if password else env.get(PASSWORD_ENV) or None,
            cafile=files.get("ssl_cafile"),
            certfile=files.get("ssl_certfile"),
            keyfile=files.get("ssl_keyfile"),
        )
        security.check(url, "sasl_mechanism" in query, files)
        return security

    def check(self, url: str, mechanism_given: bool, files: Mapping[str, str]) -> None:
        shown = redacted(url)
        if self.sasl and not self.username:
            raise ValueError(
                f"{self.protocol} needs a user name in {shown!r} (kafka://user@host:port)"
            )
        if self.sasl and not self.password:
            raise ValueError(
                f"no password for Kafka user {self.username!r} in {shown!r}: put it in the URL"
                f" (kafka://user:password@host:port) or in {PASSWORD_ENV}"
            )
        if not self.sasl and (self.username or mechanism_given):
            raise ValueError(
                f"a user name or sasl_mechanism in {shown!r} needs security_protocol SASL_SSL"
                f" or SASL_PLAINTEXT (not {self.protocol})"
            )
        if not self.tls and files:
            raise ValueError(
                f"{', '.join(files)} in {shown!r} needs security_protocol SSL or SASL_SSL"
                f" (not {self.protocol})"
            )
        for name, path in files.items():
            if not Path(path).is_file():
                raise ValueError(f"{name} in {shown!r} names no file: {path}")

    def client_options(self) -> dict[str, Any]:
        """The keyword arguments every aiokafka client (producer, consumer, admin) takes."""
        options: dict[str, Any] = {"security_protocol": self.protocol}
        if self.tls:
            from aiokafka.helpers import create_ssl_context  # noqa: PLC0415 (only with TLS)

            options["ssl_context"] = create_ssl_context(
                cafile=self.cafile, certfile=self.certfile, keyfile=self.keyfile
            )
        if self.sasl:
            options["sasl_mechanism"] = self.mechanism
            options["sasl_plain_username"] = self.username
            options["sasl_plain_password"] = self.password
        return options


def _choice(url: str, name: str, query: Mapping[str, str], allowed: tuple[str, ...]) -> str | None:
    if name not in query:
        return None
    value = query[name].upper()
    if value not in allowed:
        raise ValueError(
            f"{name} in {redacted(url)!r} must be one of {', '.join(allowed)} (got {query[name]!r})"
        )
    return value
