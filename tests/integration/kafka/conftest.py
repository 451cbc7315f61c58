"""dagger end to end on a real Apache Kafka broker: `make kafka-up`, then
`DAGGER_KAFKA_BOOTSTRAP=127.0.0.1:9092 pytest tests/integration/kafka`.

Every module here sets `pytestmark = KAFKA` (support.py): marked `kafka`, and skipped with the
reason when DAGGER_KAFKA_BOOTSTRAP is unset.

The order workflow's topic names are fixed by its generated module, so tests share those topics
with each other and with earlier runs. Each test gets its own namespace on them instead (`Space`):
consumer groups of its own whose committed offsets start at the current end of every topic (so no
history is read), and order ids with a prefix of its own (so the services answer only its orders,
whoever else is publishing). Its SQLite store is a fresh file in `tmp_path`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from .support import BOOTSTRAP_VARIABLE


@pytest.fixture
def bootstrap() -> str:
    return os.environ[BOOTSTRAP_VARIABLE]  # the modules skip when it is unset


@pytest.fixture
def run_id() -> Iterator[str]:
    """A short id unique to this test: the prefix of its groups and order ids."""
    yield f"t{uuid.uuid4().hex[:10]}"
