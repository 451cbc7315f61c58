"""A misspelt function name inside a lambda: Python only finds out when the task runs."""

from attrs import frozen

from dsl import call, decide, fail, process, workflow


@frozen
class Order:
    order_id: str
    amount_cents: int


def is_large(o: Order) -> bool:
    return o.amount_cents > 100_000


def ship(o: Order) -> Order:
    return o


Orders = (
    workflow("Orders", Order, key=lambda o: o.order_id)
    >> process("ROUTE")
    >> decide(
        lambda o: o.amount_cents > 0 and is_larg(o),  # noqa: F821 - the mistake under test
        then=fail("needs review"),
        otherwise=call(ship),
    )
)
