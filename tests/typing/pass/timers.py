"""Durable timers: fixed and computed delays, a point in time, polling with a deadline."""

from datetime import UTC, datetime, timedelta

from attrs import frozen

from dsl import poll, process, sleep, until, workflow


@frozen
class Order:
    order_id: str
    placed_at: datetime
    wait: timedelta = timedelta(minutes=5)
    ready: bool = False


def ship_by(o: Order) -> datetime:
    return o.placed_at + timedelta(days=2)


Orders = (
    workflow("Orders", Order, key=lambda o: o.order_id)
    >> process("WAIT")
    >> sleep(timedelta(seconds=30))
    >> sleep(lambda o: o.wait)
    >> until(lambda o: datetime.now(UTC) + timedelta(hours=1))
    >> poll(lambda o: o.ready, every=timedelta(seconds=10), deadline=ship_by)
    >> until(ship_by)
)
