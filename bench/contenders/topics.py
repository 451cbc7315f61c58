"""Creating a contender's Kafka topics before its burst, so no send meets a leaderless partition."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import TopicPartition

PARTITIONS = 4  # the bench broker's num.partitions, which auto-created topics get too
READY_TIMEOUT_S = 30.0


async def create_topics(bootstrap: str, names: Sequence[str], partitions: int = PARTITIONS) -> None:
    """Create the topics (those that exist are left alone) and wait until every partition has a leader."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1) for name in names])
        await _wait_for_leaders(admin, names)
    finally:
        await admin.close()


async def claim_at_end(bootstrap: str, group: str, topics: Sequence[str]) -> str:
    """Create the topics if missing, then commit the current end of each of their partitions as
    `group`'s position, so the group reads only what is sent from now on. Returns `group`."""
    await create_topics(bootstrap, topics)  # waits until every partition has a leader
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    partitions = [
        TopicPartition(t["topic"], p["partition"]) for t in described for p in t["partitions"]
    ]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.commit(dict(await consumer.end_offsets(partitions)))
    finally:
        await consumer.stop()
    return group


async def delete_topics(bootstrap: str, names: Sequence[str]) -> None:
    """Delete those of the topics that exist, and wait until they are gone."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = sorted(set(names) & set(await admin.list_topics()))
        if existing:
            await admin.delete_topics(existing)
            await _wait_until_gone(admin, existing)
    finally:
        await admin.close()


async def reset_topics(bootstrap: str, names: Sequence[str], partitions: int = PARTITIONS) -> None:
    """Delete the topics if they exist (messages of an earlier run on a long-lived broker would
    be consumed again by new groups), then create them afresh."""
    await delete_topics(bootstrap, names)
    await create_topics(bootstrap, names, partitions)


async def _wait_until_gone(admin: Any, names: Sequence[str]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while set(names) & set(await admin.list_topics()):
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"topics {', '.join(names)} still exist {READY_TIMEOUT_S:.0f} s after deletion"
            )
        await asyncio.sleep(0.2)


async def _wait_for_leaders(admin: Any, names: Sequence[str]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        described = await admin.describe_topics(list(names))
        if all(_ready(topic) for topic in described):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"topics {', '.join(names)} have no leader after {READY_TIMEOUT_S:.0f} s"
            )
        await asyncio.sleep(0.1)


def _ready(topic: dict[str, Any]) -> bool:
    partitions = topic.get("partitions") or []
    return (
        topic.get("error_code") == 0
        and bool(partitions)
        and all(p["leader"] >= 0 for p in partitions)
    )
