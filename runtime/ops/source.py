"""What the HTTP API needs from a running engine, as one narrow Protocol.

The routes talk to an `OpsSource`, never to the engine's internals. `Engine` satisfies it
through `EngineSource`, which adds the two things the public Engine API does not say directly:
the list of compiled workflows and a readiness probe.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Protocol

from runtime.engine import Engine
from runtime.engine_api import EngineError, Run, RunPage, RunStatus
from runtime.types import CompiledWorkflow, Status, TopicSpec

READY_TIMEOUT = 2.0  # seconds the store may take to answer a readiness probe


class OpsSource(Protocol):
    @property
    def workflows(self) -> Sequence[CompiledWorkflow[Any]]: ...

    async def ready(self) -> str | None:
        """None when the engine is started and its store answers; else what is wrong."""
        ...

    async def start(self, workflow: CompiledWorkflow[Any], state: Any) -> Run[Any]:
        """Start (idempotently, by the workflow's key)."""
        ...

    async def status(self, instance_id: str) -> RunStatus[Any] | None: ...

    async def list(
        self, workflow: str | None, status: str | None, limit: int, cursor: str | None
    ) -> RunPage:
        """One page; raises ValueError when the engine rejects the cursor."""
        ...

    async def cancel(self, instance_id: str) -> Status:
        """Stop the instance; its status after. Raises LookupError when there is no such instance."""
        ...

    async def send(self, topic: TopicSpec[Any], message: Any) -> None: ...


class EngineSource:
    """An `OpsSource` over an `Engine` (opened with `async with`)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @property
    def workflows(self) -> Sequence[CompiledWorkflow[Any]]:
        return list(self._engine.registry.workflows.values())

    async def ready(self) -> str | None:
        try:
            await asyncio.wait_for(self._engine.status("dagger.readyz"), READY_TIMEOUT)
        except EngineError as exc:
            return str(exc)
        except TimeoutError:
            return f"the store did not answer within {READY_TIMEOUT} s"
        except Exception as exc:
            return f"the store failed: {type(exc).__name__}: {exc}"
        return None

    async def start(self, workflow: CompiledWorkflow[Any], state: Any) -> Run[Any]:
        return await self._engine.start(workflow, state)

    async def status(self, instance_id: str) -> RunStatus[Any] | None:
        return await self._engine.status(instance_id)

    async def list(
        self, workflow: str | None, status: str | None, limit: int, cursor: str | None
    ) -> RunPage:
        return await self._engine.list(workflow=workflow, status=status, limit=limit, cursor=cursor)

    async def cancel(self, instance_id: str) -> Status:
        return await self._engine.cancel(instance_id)

    async def send(self, topic: TopicSpec[Any], message: Any) -> None:
        await self._engine.send(topic, message)
