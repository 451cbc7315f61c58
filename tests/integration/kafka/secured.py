"""A private broker with a SASL_SSL listener beside its plain one: certificates made with openssl
for the test (an authority, and a broker certificate for 127.0.0.1 it signed), SASL PLAIN with one
user and SCRAM-SHA-512 with another, and the broker's config extended through scripts/kafka.sh
(DAGGER_KAFKA_EXTRA_CONFIG, and DAGGER_KAFKA_ADD_SCRAM for the SCRAM user)."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from attrs import frozen

from .processes import PrivateBroker

USER = "dagger"  # SASL PLAIN
SCRAM_USER = "dagger-scram"  # SCRAM-SHA-512 only
PASSWORD = "not-a-real-secret"


@frozen
class Secured:
    broker: PrivateBroker
    port: int  # the SASL_SSL listener
    ca: Path  # the authority that signed the broker's certificate
    other_ca: Path  # an authority that signed nothing of this broker

    def url(self, *, user: str = USER, cafile: Path | None = None, options: str = "") -> str:
        ca = cafile or self.ca
        return f"kafka://{user}@127.0.0.1:{self.port}?ssl_cafile={ca}{options}"


def secured_broker(folder: Path) -> Secured:
    """Certificates in `folder`, and a broker (not yet up) whose config adds the listener."""
    ca = _authority(folder, "ca")
    other = _authority(folder, "other-ca")
    keystore = _broker_certificate(folder, ca)
    port = _free_port()
    broker = PrivateBroker()
    config = folder / "secured.properties"
    plain, controller = broker.port, broker.port + 1
    config.write_text(
        "\n".join(
            [
                f"listeners=PLAINTEXT://127.0.0.1:{plain},CONTROLLER://127.0.0.1:{controller},"
                f"SECURE://127.0.0.1:{port}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{plain},"
                f"CONTROLLER://127.0.0.1:{controller},SECURE://127.0.0.1:{port}",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,"
                "SECURE:SASL_SSL",
                "listener.name.secure.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-512",
                "listener.name.secure.scram-sha-512.sasl.jaas.config="
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
                "listener.name.secure.plain.sasl.jaas.config="
                "org.apache.kafka.common.security.plain.PlainLoginModule required"
                f' user_{USER}="{PASSWORD}";',
                "ssl.keystore.type=PEM",
                f"ssl.keystore.location={keystore}",
                "",
            ]
        )
    )
    broker.env["DAGGER_KAFKA_EXTRA_CONFIG"] = str(config)
    broker.env["DAGGER_KAFKA_ADD_SCRAM"] = f"SCRAM-SHA-512=[name={SCRAM_USER},password={PASSWORD}]"
    return Secured(broker, port, ca / "cert.pem", other / "cert.pem")


def _authority(folder: Path, name: str) -> Path:
    home = folder / name
    home.mkdir()
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-subj", f"/CN=dagger test {name}",
        "-keyout", str(home / "key.pem"), "-out", str(home / "cert.pem"),
    )  # fmt: skip
    return home


def _broker_certificate(folder: Path, ca: Path) -> Path:
    """A PEM keystore for the broker: its key, then its certificate for 127.0.0.1."""
    key, request, cert = folder / "broker.key", folder / "broker.csr", folder / "broker.crt"
    extensions = folder / "broker.ext"
    extensions.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n")
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
        "-keyout", str(key), "-out", str(request),
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", str(request), "-days", "2",
        "-CA", str(ca / "cert.pem"), "-CAkey", str(ca / "key.pem"), "-CAcreateserial",
        "-extfile", str(extensions), "-out", str(cert),
    )  # fmt: skip
    keystore = folder / "broker.pem"
    keystore.write_text(key.read_text() + cert.read_text())
    return keystore


def _openssl(*argv: str) -> None:
    subprocess.run(["openssl", *argv], check=True, capture_output=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port
