"""`kafka://` URLs: parsed without touching a broker."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from runtime.backends.kafka import kafka_broker_from_url
from runtime.backends.kafka_security import PASSWORD_ENV
from runtime.urls import redacted


def test_hosts_and_options() -> None:
    broker = kafka_broker_from_url("kafka://k1:9092,k2:9093?partitions=8&client_id=orders")
    s = broker.settings
    assert s.bootstrap == ("k1:9092", "k2:9093")
    assert (s.partitions, s.client_id, s.replication) == (8, "orders", 1)


def test_the_longest_message_is_an_option() -> None:
    assert kafka_broker_from_url("kafka://h:9092").max_message_bytes == 1_000_000
    broker = kafka_broker_from_url("kafka://h:9092?max_message_bytes=5000000")
    assert broker.max_message_bytes == broker.settings.max_message_bytes == 5_000_000


def test_defaults() -> None:
    s = kafka_broker_from_url("kafka://127.0.0.1:9092").settings
    assert (s.bootstrap, s.partitions, s.client_id, s.linger_ms) == (
        ("127.0.0.1:9092",),
        4,
        "dagger",
        0,
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite:///x.db", "must start with 'kafka://'"),
        ("kafka://", "must name host:port"),
        (
            "kafka://h:9092?partitions=many",
            "'partitions' in 'kafka://h:9092?partitions=many' must be a whole number (got 'many')",
        ),
        ("kafka://h:9092?partitions=0", "'partitions' must be at least 1 (got 0)"),
        ("kafka://h:9092?parts=3", "unknown option 'parts'"),
        ("kafka://h:9092?max_message_bytes=0", "'max_message_bytes' must be at least 1 (got 0)"),
    ],
)
def test_mistakes_are_named(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        kafka_broker_from_url(url)


def test_tls_and_sasl_from_the_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("a PEM authority")
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    tls = kafka_broker_from_url(f"kafka://k1:9093?ssl_cafile={ca}").settings
    assert (tls.bootstrap, tls.security.protocol, tls.security.cafile) == (
        ("k1:9093",),
        "SSL",
        str(ca),
    )
    sasl = kafka_broker_from_url("kafka://ann:p%40ss@k1:9093?sasl_mechanism=scram-sha-512")
    s = sasl.settings.security
    assert (s.protocol, s.mechanism, s.username, s.password) == (
        "SASL_SSL",
        "SCRAM-SHA-512",
        "ann",
        "p@ss",
    )
    assert "p@ss" not in repr(s)
    monkeypatch.setenv(PASSWORD_ENV, "from-env")
    plain = kafka_broker_from_url("kafka://ann@k1:9092?security_protocol=SASL_PLAINTEXT")
    assert (plain.settings.security.protocol, plain.settings.security.password) == (
        "SASL_PLAINTEXT",
        "from-env",
    )
    assert kafka_broker_from_url("kafka://k1:9092").settings.security.protocol == "PLAINTEXT"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("kafka://ann@h:9092", "no password for Kafka user 'ann' in 'kafka://ann@h:9092'"),
        (
            "kafka://h:9092?security_protocol=SASL_SSL",
            "SASL_SSL needs a user name in 'kafka://h:9092?security_protocol=SASL_SSL'",
        ),
        (
            "kafka://ann:secret@h:9092?security_protocol=SSL",
            "a user name or sasl_mechanism in 'kafka://ann:***@h:9092?security_protocol=SSL'"
            " needs security_protocol SASL_SSL or SASL_PLAINTEXT (not SSL)",
        ),
        (
            "kafka://h:9092?security_protocol=TLS",
            "security_protocol in 'kafka://h:9092?security_protocol=TLS' must be one of"
            " PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL (got 'TLS')",
        ),
        (
            "kafka://ann:secret@h:9092?sasl_mechanism=GSSAPI",
            "sasl_mechanism in 'kafka://ann:***@h:9092?sasl_mechanism=GSSAPI' must be one of",
        ),
        ("kafka://h:9092?ssl_cafile=/no/such.pem", "ssl_cafile in 'kafka://h:9092?ssl_cafile="),
        (
            "kafka://h:9092?security_protocol=PLAINTEXT&ssl_cafile=/etc/hosts",
            "ssl_cafile in 'kafka://h:9092?security_protocol=PLAINTEXT&ssl_cafile=/etc/hosts'"
            " needs security_protocol SSL or SASL_SSL (not PLAINTEXT)",
        ),
        ("kafka://ann:secret@h:9092?parts=1", "unknown option 'parts' in 'kafka://ann:***@h:9092"),
    ],
)
def test_security_mistakes_are_named_without_the_password(
    url: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    with pytest.raises(ValueError, match=re.escape(message)) as caught:
        kafka_broker_from_url(url)
    assert "secret" not in str(caught.value)


def test_urls_are_logged_without_their_password() -> None:
    assert redacted("kafka://ann:s3@k1:9093?ssl_cafile=/a/b.pem") == (
        "kafka://ann:***@k1:9093?ssl_cafile=/a/b.pem"
    )
    assert redacted("aerospike://u:p@a1:3000,a2:3000/ns") == "aerospike://u:***@a1:3000,a2:3000/ns"
    assert redacted("kafka://ann@k1:9093") == "kafka://ann@k1:9093"
    assert redacted("sqlite:///dagger.db") == "sqlite:///dagger.db"
