"""The seed engine on the bench workload, inside its own virtualenv:

    DAGGER_AEROSPIKE_HOSTS=127.0.0.1:3000 ~/.cache/dagger/bench-wf-dagger-venv/bin/python \\
        -m bench.wf_dagger.runner --bootstrap 127.0.0.1:9092 --workdir /tmp/wf

A faust worker runs the engine, the simulated service (two faust agents) and the driver (a faust
task that starts the bursts); the engine reports each stored workflow to a task-update callback,
which notes completions. Configured as its README shows, with what current libraries need:
USERNAME=None, a serializer for the aerospike client (pickle, what older clients did by default),
and `partition_key_lookup` on every instance. faust's default fetch wait (1.5 s) is left as shipped.
The N `create_instance` calls of a burst run concurrently, like dagger's starts: that is faster
for the seed engine than awaiting them one after another.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import pickle
import signal
import uuid
from typing import Any

import aerospike
import mode  # type: ignore[import-not-found]
from aerospike import exception as aex
from dagger.service.engineconfig import AerospikeConfig  # type: ignore[import-not-found]
from dagger.service.services import Dagger  # type: ignore[import-not-found]

from bench.contenders.common import (
    Figures,
    Options,
    Tracker,
    calibrate_and_measure,
    emit_result,
    emit_skipped,
    parse_options,
)
from bench.contenders.topics import create_topics
from bench.wf_dagger import workload

HOSTS_VARIABLE = "DAGGER_AEROSPIKE_HOSTS"
PARTITIONS = 4
BURST_TIMEOUT_S = 600.0
log = logging.getLogger("bench.wf_dagger")


def parse_hosts(text: str) -> list[tuple[str, int]]:
    """ "host:port,host:port" -> [(host, port), ...]; a ValueError names the bad entry."""
    hosts = []
    for entry in filter(None, (part.strip() for part in text.split(","))):
        host, _, port = entry.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"{HOSTS_VARIABLE} entry {entry!r} is not host:port")
        hosts.append((host, int(port)))
    return hosts


def namespace() -> str:
    """The Aerospike namespace: DAGGER_AEROSPIKE_NAMESPACE, default "test"."""
    return os.environ.get("DAGGER_AEROSPIKE_NAMESPACE", "test")


def to_text(value: object) -> str:
    """The aerospike client's user serializer. It must return text without NUL characters (it
    rejects bytes, and a str holding NUL crashes it), so: pickle, then base64."""
    return base64.b64encode(pickle.dumps(value)).decode("ascii")


def from_text(text: str | bytes) -> object:
    return pickle.loads(base64.b64decode(text))


def build_engine(options: Options, run: str, hosts: list[tuple[str, int]], on_update: Any) -> Any:
    config = AerospikeConfig(
        HOSTS=hosts,
        POLICIES={"key": aerospike.POLICY_KEY_SEND},
        NAMESPACE=namespace(),
        USERNAME=None,
        PASSWORD=None,
        TTL=-1,
        KWARGS={"serialization": (to_text, from_text)},
    )
    return Dagger(
        broker=f"kafka://{options.bootstrap}",
        datadir=str(options.workdir / run),
        store="aerospike://",
        application_name=f"bench-wf-{run}",
        kafka_partitions=PARTITIONS,
        consumer_auto_offset_reset="earliest",
        aerospike_config=config,
        enable_changelog=False,
        serializer="raw",
        task_update_callbacks=[on_update],
        topic_partitions=PARTITIONS,
        web_enabled=False,
    )


class Bench:
    def __init__(self, options: Options, run: str, hosts: list[tuple[str, int]]) -> None:
        self.options = options
        self.run = run
        self.hosts = hosts
        self.namespace = namespace()
        self.topics = workload.names(self.run)
        self.tracker = Tracker("idle", 0)
        self.engine = build_engine(options, self.run, hosts, self.on_update)
        self.template = workload.register(self.engine, self.topics)
        self._serve(self.topics["PAYMENT_COMMAND"], self.topics["PAYMENT_LISTENER"], payment=True)
        self._serve(
            self.topics["SHIPPING_COMMAND"], self.topics["SHIPPING_LISTENER"], payment=False
        )
        self.engine.faust_app.task(self.drive)

    async def on_update(self, instance: Any) -> None:
        if instance.status.code == "COMPLETED":
            self.tracker.completed(str(instance.runtime_parameters["order_id"]))

    def _serve(self, command: str, listener: str, *, payment: bool) -> None:
        """The simulated service: a faust agent answering each command on the listener topic."""
        app = self.engine.faust_app
        commands = app.topic(command, key_type=bytes, value_type=bytes)
        replies = self.engine.topics[listener]

        async def answer(stream: Any) -> None:
            async for value in stream:
                order = str(json.loads(value)["order_id"])
                if payment:
                    self.tracker.payment_replied(order)
                    reply = {"order_id": order, "ok": True}
                else:
                    self.tracker.shipping_requested(order)
                    reply = {"order_id": order, "tracking": f"T-{order}"}
                await replies.send(key=order.encode(), value=workload.encode(reply))

        app.agent(commands, name=f"service-{command}")(answer)

    async def burst(self, phase: str, n: int) -> Figures:
        tracker = self.tracker = Tracker(phase, n)
        tracker.start_clock()
        await asyncio.gather(
            *(
                self.template.create_instance(
                    uuid.uuid1(),
                    partition_key_lookup="order_id",
                    repartition=False,
                    submit_task=True,
                    order_id=order,
                    amount_cents=1250,
                )
                for order in tracker.order_ids()
            )
        )
        await tracker.wait(BURST_TIMEOUT_S)
        return tracker.figures()

    async def drive(self) -> None:
        try:
            figures, _ = await calibrate_and_measure(
                self.burst, self.options, warmup_n=100, floor=2500, ceiling=50_000, probe_s=8.0
            )
            emit_result(figures.as_json())
        except Exception:
            log.exception("the seed engine's bench run failed")
        finally:
            await asyncio.to_thread(self.drop_tables)
            os.kill(os.getpid(), signal.SIGTERM)  # ends the faust worker

    def drop_tables(self) -> None:
        """Truncate this run's Aerospike sets, so repeated runs do not fill the namespace."""
        client = aerospike.client({"hosts": self.hosts}).connect()
        try:
            for table in self.engine.faust_app.tables.values():
                client.truncate(self.namespace, table.name, 0)
        except aex.AerospikeError:
            log.warning("could not truncate this run's Aerospike sets", exc_info=True)
        finally:
            client.close()


def main() -> None:
    options = parse_options(__doc__ or "")
    hosts_text = os.environ.get(HOSTS_VARIABLE, "")
    if not hosts_text:
        emit_skipped(
            f"{HOSTS_VARIABLE} is not set (the seed engine's only working store is Aerospike)"
        )
        return
    hosts = parse_hosts(hosts_text)
    run = uuid.uuid4().hex[:8]
    # faust ignores topics that do not exist when its consumer subscribes: create them first.
    asyncio.run(create_topics(options.bootstrap, list(workload.names(run).values()), PARTITIONS))
    asyncio.set_event_loop(asyncio.new_event_loop())
    bench = Bench(options, run, hosts)
    # What Dagger.main() does, with the log level said: warnings and errors go to the log.
    mode.Worker(
        bench.engine, daemon=True, loglevel="WARNING", redirect_stdouts=False
    ).execute_from_commandline()


if __name__ == "__main__":
    main()
