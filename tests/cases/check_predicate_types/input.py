"""A poll check that returns a str, a fail reason that returns an int."""

from datetime import UTC, datetime, timedelta

from attrs import frozen

from dsl import fail, poll, process, workflow


@frozen
class Order:
    order_id: str
    tracking: str = ""
    attempts: int = 0


def shipped(o: Order) -> str:
    return o.tracking


def deadline(o: Order) -> datetime:
    return datetime.now(UTC) + timedelta(days=1)


Orders = (
    workflow("Orders", Order, key=lambda o: o.order_id)
    >> process("TRACK")
    >> poll(shipped, every=timedelta(minutes=5), deadline=deadline)
    >> process("GIVE_UP")
    >> fail(lambda o: o.attempts)
)
