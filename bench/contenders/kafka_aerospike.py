"""dagger over the Kafka broker with an Aerospike store, the set-up for workers on many machines:
the same burst as `bench.contenders.kafka`, on the server named by DAGGER_AEROSPIKE_HOSTS
(namespace DAGGER_AEROSPIKE_NAMESPACE, default "test"), in sets of a prefix of its own that are
dropped afterwards.

    DAGGER_AEROSPIKE_HOSTS=127.0.0.1:3000 python -m bench.contenders.kafka_aerospike \\
        --bootstrap 127.0.0.1:9092 --workdir /tmp/x [--n 20000]
"""

from __future__ import annotations

import asyncio
import os
import uuid

from bench.contenders.common import Options, emit_skipped, parse_options
from bench.contenders.kafka import measure
from runtime.backends.aerospike import AerospikeStore

HOSTS_VARIABLE = "DAGGER_AEROSPIKE_HOSTS"


async def main(options: Options) -> None:
    hosts = os.environ.get(HOSTS_VARIABLE, "")
    if not hosts:
        emit_skipped(f"{HOSTS_VARIABLE} is not set")
        return
    namespace = os.environ.get("DAGGER_AEROSPIKE_NAMESPACE", "test")
    url = f"aerospike://{hosts}/{namespace}?prefix=bench{uuid.uuid4().hex[:8]}_"
    try:
        await measure(options, url)
    finally:
        await AerospikeStore.drop_url(url)


if __name__ == "__main__":
    asyncio.run(main(parse_options(__doc__ or "")))
