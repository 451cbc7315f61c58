"""Simulated payment and fulfilment services for examples/orders.py's OrderWorkflow.

`services(engine)` answers every command through `engine.subscribe`, with stable reply ids; the
integration tests use it in process and in `worker.py`, a worker process they kill.
"""

from __future__ import annotations

from pathlib import Path

from examples.orders import BoxId, BoxPacked, Charge, Fulfil, PaymentResult
from generated.orders import (
    FULFILLMENT_COMMAND,
    FULFILLMENT_LISTENER,
    PAYMENT_COMMAND,
    PAYMENT_LISTENER,
)
from runtime import Engine


def services(engine: Engine, seen: list[str] | None = None, log: Path | None = None) -> None:
    """Answer every command; note what was seen in `seen` and/or a file."""

    def note(line: str) -> None:
        if seen is not None:
            seen.append(line)
        if log is not None:
            with log.open("a") as f:
                f.write(line + "\n")

    async def payment(m: Charge) -> None:
        note(f"pay {m.order_id}")
        reply = PaymentResult(m.order_id, True, BoxId(f"box-{m.order_id}"))
        await engine.send(PAYMENT_LISTENER, reply, message_id=f"pay/{m.order_id}")

    async def fulfilment(m: Fulfil) -> None:
        note(f"box {m.order_id}")
        await engine.send(
            FULFILLMENT_LISTENER, BoxPacked(m.box_id, "ups"), message_id=f"box/{m.box_id}"
        )

    engine.subscribe(PAYMENT_COMMAND, payment)
    engine.subscribe(FULFILLMENT_COMMAND, fulfilment)
