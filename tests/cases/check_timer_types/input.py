"""Timer callables that return the wrong type, found from annotations and attrs fields."""

from datetime import date, datetime, timedelta

from attrs import frozen

from dsl import poll, process, sleep, until, workflow


@frozen
class Order:
    order_id: str
    ship_on: date
    placed_at: datetime
    wait_seconds: int = 60


def ship_day(o: Order) -> date:
    return o.ship_on


def ready(o: Order) -> bool:
    return True


Orders = (
    workflow("Orders", Order, key=lambda o: o.order_id)
    >> process("WAIT")
    >> sleep(lambda o: o.wait_seconds)
    >> until(ship_day)
    >> poll(ready, every=timedelta(minutes=1), deadline=lambda o: o.ship_on)
    >> until(lambda o: o.placed_at)
)
