"""poll(check=...) must return bool."""

from datetime import datetime, timedelta

from attrs import frozen

from dsl import poll, process, workflow


@frozen
class Order:
    order_id: str
    tracking: str
    due: datetime


def tracking_number(o: Order) -> str:
    return o.tracking


Orders = (
    workflow("Orders", Order, key=lambda o: o.order_id)
    >> process("TRACK")
    >> poll(tracking_number, every=timedelta(minutes=5), deadline=lambda o: o.due)  # E: Argument 1 to "poll" has incompatible type "Callable[[Order], str]"; expected "Callable[[Order], bool]"  [arg-type]
)
