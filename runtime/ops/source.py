"""What the HTTP API needs from a running engine, as one narrow Protocol.

The HTTP layer talks to an `OpsSource`, never to the engine's internals, so its routes stay
small and the mapping onto the engine lives in one place (`EngineSource`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from runtime.ops.views import Listing
from runtime.types import CompiledWorkflow, Instance, TopicSpec


class NotFound(LookupError):
    """The named instance does not exist."""


class OpsSource(Protocol):
    @property
    def workflows(self) -> Sequence[CompiledWorkflow[Any]]: ...

    async def ready(self) -> str | None:
        """None when the engine is started and its store answers; else what is wrong."""
        ...

    async def start(self, workflow: CompiledWorkflow[Any], state: object) -> str:
        """Start (idempotently, by the workflow's key) and return the instance id."""
        ...

    async def get(self, instance_id: str) -> Instance[Any] | None: ...

    async def list(
        self, workflow: str | None, status: str | None, limit: int, cursor: str | None
    ) -> Listing:
        """One page; raises ValueError when the engine rejects the cursor."""
        ...

    async def cancel(self, instance_id: str) -> None:
        """Ask the instance to stop; raises NotFound when there is no such instance."""
        ...

    async def send(self, topic: TopicSpec[Any], message: object) -> None: ...
