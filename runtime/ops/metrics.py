"""Prometheus metrics: one registry per `Metrics`, fed by the engine through `EngineObserver`.

Each `Metrics` owns its own `CollectorRegistry` rather than the process-global one, so two
engines in one process (or two tests) never collide on series names. Names are prefixed
`dagger_` and follow Prometheus conventions: `_total` for counters, `_seconds` for durations.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from runtime.ops.hooks import BaseObserver
from runtime.types import Status

CONTENT_TYPE = CONTENT_TYPE_LATEST

# Transitions are pure functions plus one compare-and-set: milliseconds, not seconds.
_FAST = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# Timers fire from the due index "well under a second" late; minutes mean trouble.
_LAG = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class Metrics(BaseObserver):
    """The engine's Prometheus series; pass it to the engine as an observer."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        by_workflow = ["workflow"]
        self.started = Counter(
            "dagger_instances_started", "Instances started.", by_workflow, registry=r
        )
        self.completed = Counter(
            "dagger_instances_completed", "Instances that completed.", by_workflow, registry=r
        )
        self.failed = Counter(
            "dagger_instances_failed", "Instances that failed.", by_workflow, registry=r
        )
        self.cancelled = Counter(
            "dagger_instances_cancelled", "Instances cancelled (STOPPED).", by_workflow, registry=r
        )
        self.transitions = Counter(
            "dagger_transitions",
            "Events applied to instances, by the kind of node they acted on.",
            ["workflow", "node_kind"],
            registry=r,
        )
        self.transition_seconds = Histogram(
            "dagger_transition_seconds",
            "Time to apply one event: load, transition, compare-and-set.",
            by_workflow,
            buckets=_FAST,
            registry=r,
        )
        self.store_seconds = Histogram(
            "dagger_store_seconds", "Store call latency.", ["operation"], buckets=_FAST, registry=r
        )
        self.broker_seconds = Histogram(
            "dagger_broker_seconds",
            "Broker call latency.",
            ["operation"],
            buckets=_FAST,
            registry=r,
        )
        self.timer_lag = Histogram(
            "dagger_timer_lag_seconds", "How late timers fire.", buckets=_LAG, registry=r
        )
        self.outbox_depth = Gauge(
            "dagger_outbox_depth", "Instances whose effects are not yet performed.", registry=r
        )
        self.dead_letters = Counter(
            "dagger_dead_letters", "Messages sent to a dead-letter topic.", ["topic"], registry=r
        )
        self.early_messages = Counter(
            "dagger_early_messages_buffered",
            "Messages kept because they arrived before their listener.",
            ["topic"],
            registry=r,
        )

    def render(self) -> bytes:
        """The registry in Prometheus text exposition format."""
        return generate_latest(self.registry)

    # ------------------------------------------------------------------ EngineObserver

    def on_status(self, instance_id: str, workflow: str, status: Status) -> None:
        counter = {
            Status.EXECUTING: self.started,
            Status.COMPLETED: self.completed,
            Status.FAILED: self.failed,
            Status.STOPPED: self.cancelled,
        }.get(status)
        if counter is not None:
            counter.labels(workflow).inc()

    def on_transition(self, workflow: str, node_kind: str, seconds: float) -> None:
        self.transitions.labels(workflow, node_kind).inc()
        self.transition_seconds.labels(workflow).observe(seconds)

    def on_store(self, operation: str, seconds: float) -> None:
        self.store_seconds.labels(operation).observe(seconds)

    def on_broker(self, operation: str, seconds: float) -> None:
        self.broker_seconds.labels(operation).observe(seconds)

    def on_timer_lag(self, seconds: float) -> None:
        self.timer_lag.observe(max(seconds, 0.0))

    def on_outbox_depth(self, depth: int) -> None:
        self.outbox_depth.set(depth)

    def on_dead_letter(self, topic: str, reason: str) -> None:
        self.dead_letters.labels(topic).inc()

    def on_early_message(self, topic: str) -> None:
        self.early_messages.labels(topic).inc()
