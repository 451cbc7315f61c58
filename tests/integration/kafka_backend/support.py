"""What the tests of the Kafka backend share: where the broker is, and the marks that skip them
with the reason when it is not given."""

from __future__ import annotations

import os

import pytest

BOOTSTRAP = os.environ.get("DAGGER_KAFKA_BOOTSTRAP", "")

KAFKA = [
    pytest.mark.kafka,
    pytest.mark.skipif(
        not BOOTSTRAP,
        reason="needs Apache Kafka: run `make kafka-up` and set"
        " DAGGER_KAFKA_BOOTSTRAP=127.0.0.1:9092",
    ),
]
