"""What the engine tells the outside world: a small observer interface.

The engine owns no metrics, spans or update topics. It calls an `EngineObserver` at a few
points and the ops package turns those calls into Prometheus series (`Metrics`), status
updates (`UpdateStream`) and whatever a user plugs in. Every call is synchronous and cheap;
an observer that needs I/O queues the work and does it elsewhere. `Observers` fans one call
out to many observers and never lets an observer's exception reach the engine.

Call sites in the engine (each one line):

- after an instance record is first stored:     `on_status(id, workflow, Status.EXECUTING)`
- after a transition changes the instance status: `on_status(id, workflow, new_status)`
- after each transition is applied:             `on_transition(workflow, node_kind, seconds)`
- around each store / broker call:              `on_store(operation, seconds)`, `on_broker(...)`
  (or wrap the ports once: `broker, store = runtime.ops.timing.timed(broker, store, observer)`)
- when a due timer is fired:                    `on_timer_lag(now - timer.due)`
- after an outbox scan:                         `on_outbox_depth(count)`
- when a message goes to `<topic>.dead-letter`:  `on_dead_letter(topic, reason)`
- when an early message is buffered:            `on_early_message(topic)`
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, Protocol

from runtime.types import Node, Status

_log = logging.getLogger("dagger.ops")


class EngineObserver(Protocol):
    """Receives what the engine does; every method must return quickly and not raise."""

    def on_status(self, instance_id: str, workflow: str, status: Status) -> None:
        """An instance reached `status` (EXECUTING when it starts)."""
        ...

    def on_transition(self, workflow: str, node_kind: str, seconds: float) -> None:
        """One event was applied to an instance at a node of kind `node_kind`."""
        ...

    def on_store(self, operation: str, seconds: float) -> None:
        """A store call (`get`, `put`, `waiters`, ...) took `seconds`."""
        ...

    def on_broker(self, operation: str, seconds: float) -> None:
        """A broker call (`send`, `fetch`, `commit`) took `seconds`."""
        ...

    def on_timer_lag(self, seconds: float) -> None:
        """A timer fired `seconds` after it was due."""
        ...

    def on_outbox_depth(self, depth: int) -> None:
        """`depth` instances have effects not yet performed."""
        ...

    def on_dead_letter(self, topic: str, reason: str) -> None:
        """A message from `topic` could not be processed and was dead-lettered."""
        ...

    def on_early_message(self, topic: str) -> None:
        """A message from `topic` arrived before its listener and was kept."""
        ...


class BaseObserver:
    """An observer that ignores everything: subclass it and override what you need."""

    def on_status(self, instance_id: str, workflow: str, status: Status) -> None:
        return None

    def on_transition(self, workflow: str, node_kind: str, seconds: float) -> None:
        return None

    def on_store(self, operation: str, seconds: float) -> None:
        return None

    def on_broker(self, operation: str, seconds: float) -> None:
        return None

    def on_timer_lag(self, seconds: float) -> None:
        return None

    def on_outbox_depth(self, depth: int) -> None:
        return None

    def on_dead_letter(self, topic: str, reason: str) -> None:
        return None

    def on_early_message(self, topic: str) -> None:
        return None


def node_kind(node: Node[Any]) -> str:
    """The label used for a node in metrics: its class name in lower case (`listen`, `call`)."""
    return type(node).__name__.rstrip("_").lower()


class Observers(BaseObserver):
    """Fans each call out to every registered observer; a failing observer is logged, not raised."""

    def __init__(self, observers: Iterable[EngineObserver] = ()) -> None:
        self._observers: list[EngineObserver] = list(observers)

    def add(self, observer: EngineObserver) -> None:
        self._observers.append(observer)

    def remove(self, observer: EngineObserver) -> None:
        self._observers.remove(observer)

    def _each(self, method: str, *args: object) -> None:
        for observer in self._observers:
            try:
                getattr(observer, method)(*args)
            except Exception:
                _log.exception("observer %r failed in %s", observer, method)

    def on_status(self, instance_id: str, workflow: str, status: Status) -> None:
        self._each("on_status", instance_id, workflow, status)

    def on_transition(self, workflow: str, node_kind: str, seconds: float) -> None:
        self._each("on_transition", workflow, node_kind, seconds)

    def on_store(self, operation: str, seconds: float) -> None:
        self._each("on_store", operation, seconds)

    def on_broker(self, operation: str, seconds: float) -> None:
        self._each("on_broker", operation, seconds)

    def on_timer_lag(self, seconds: float) -> None:
        self._each("on_timer_lag", seconds)

    def on_outbox_depth(self, depth: int) -> None:
        self._each("on_outbox_depth", depth)

    def on_dead_letter(self, topic: str, reason: str) -> None:
        self._each("on_dead_letter", topic, reason)

    def on_early_message(self, topic: str) -> None:
        self._each("on_early_message", topic)
