"""call(...): sync, async and lambda functions; retry policies, per-attempt timeouts, on_error."""

from datetime import timedelta

from attrs import evolve, frozen

from dsl import Retry, call, process, workflow


@frozen
class Invoice:
    invoice_id: str
    total_cents: int
    sent: bool = False
    error: str = ""


def compute_total(i: Invoice) -> Invoice:
    return evolve(i, total_cents=i.total_cents + 100)


async def send_invoice(i: Invoice) -> Invoice:
    return evolve(i, sent=True)


def remember_error(i: Invoice, error: str) -> Invoice:
    return evolve(i, error=error)


Billing = (
    workflow("Billing", Invoice, key=lambda i: i.invoice_id)
    >> process("PREPARE")
    >> call(compute_total)
    >> call(lambda i: evolve(i, total_cents=max(i.total_cents, 0)))
    >> process("SEND")
    >> call(
        send_invoice,
        retry=Retry(attempts=5, backoff=timedelta(seconds=1), max_backoff=timedelta(minutes=1)),
        timeout=timedelta(seconds=10),
        on_error=remember_error,
    )
    >> call(send_invoice, on_error=lambda i, e: evolve(i, error=e[:100]))
)
