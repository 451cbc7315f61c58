"""A real Engine on `memory://` running the parcel workflow, served over a real socket.

The payment side is played in-process: it approves charges under 1000 cents, declines larger
ones and never answers a charge of exactly 13 cents (so that run waits, to be cancelled or fed
a payment by hand).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from attrs import frozen

from runtime import Engine
from runtime.ops.hooks import Observers
from runtime.ops.http import create_app
from runtime.ops.metrics import Metrics
from runtime.ops.server import HttpServer
from runtime.ops.source import EngineSource
from runtime.ops.updates import UpdateStream

from .parcels import CHARGES, PAYMENTS, Charge, Paid, ParcelWorkflow

HELD = 13  # cents: the payment side never answers this charge
DECLINE_FROM = 1000


@frozen
class Served:
    engine: Engine
    server: HttpServer
    http: aiohttp.ClientSession
    metrics: Metrics
    updates: UpdateStream

    @property
    def url(self) -> str:
        return self.server.url

    async def settle(self) -> None:
        """Run the engine until nothing is left to do."""
        await self.engine.run(until_idle=True)


async def _serve(token: str | None) -> AsyncIterator[Served]:
    metrics, updates = Metrics(), UpdateStream()
    observers = Observers([metrics, updates])
    async with Engine("memory://", workflows=[ParcelWorkflow], observer=observers) as engine:

        async def payment_side(charge: Charge) -> None:
            if charge.amount != HELD:
                await engine.send(PAYMENTS, Paid(charge.parcel_id, charge.amount < DECLINE_FROM))

        engine.subscribe(CHARGES, payment_side)
        app = create_app(EngineSource(engine), metrics=metrics, updates=updates, token=token)
        async with HttpServer(app, port=0) as server, aiohttp.ClientSession() as http:
            yield Served(engine, server, http, metrics, updates)


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    async for s in _serve(None):
        yield s


@pytest.fixture
async def guarded() -> AsyncIterator[Served]:
    async for s in _serve("s3cret-token"):
        yield s
