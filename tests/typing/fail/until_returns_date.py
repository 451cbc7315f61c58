"""until(at=...) needs a datetime: a date is not one."""

from datetime import date

from attrs import frozen

from dsl import process, until, workflow


@frozen
class Order:
    order_id: str
    ship_on: date


def ship_day(o: Order) -> date:
    return o.ship_on


Orders = workflow("Orders", Order, key=lambda o: o.order_id) >> process("WAIT") >> until(ship_day)  # E: Argument 1 to "until" has incompatible type "Callable[[Order], date]"; expected "Callable[[Order], datetime]"  [arg-type]
