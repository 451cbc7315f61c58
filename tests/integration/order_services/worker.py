"""A worker with the simulated services, for test_crash.py to kill.

    python tests/integration/order_services/worker.py DB SEEN

Serves OrderWorkflow on sqlite:///DB until SIGTERM; the services append one line per command they
handle to SEEN ("pay <order>" / "box <order>"), written before they reply, so a line survives a
SIGKILL that comes after it. Writes "serving" to stderr once SIGTERM stops it cleanly.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/integration: order_services

from generated.orders import OrderWorkflow
from order_services import services
from runtime import Engine


async def main(db: str, seen: str) -> None:
    async with Engine(f"sqlite:///{db}", workflows=[OrderWorkflow]) as engine:
        services(engine, log=Path(seen))
        serving = asyncio.create_task(engine.run())
        await asyncio.sleep(0)  # run() has set its SIGTERM handler before its first wait
        sys.stderr.write("serving\n")
        sys.stderr.flush()
        await serving


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
