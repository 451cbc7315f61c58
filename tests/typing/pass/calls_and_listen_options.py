"""call with retry, timeout and error handler; listen with a timeout handler and no fold."""

from datetime import timedelta

from attrs import evolve, frozen

from dsl import Retry, call, listen, process, topic, workflow


@frozen
class Order:
    order_id: str
    reserved: bool = False
    error: str = ""
    timed_out: bool = False


@frozen
class Ping:
    order_id: str


pings = topic("PINGS", Ping, key=lambda m: m.order_id)


async def reserve(o: Order) -> Order:
    return evolve(o, reserved=True)


def remember_error(o: Order, error: str) -> Order:
    return evolve(o, error=error)


def gave_up(o: Order) -> Order:
    return evolve(o, timed_out=True)


Orders = (
    workflow("Orders", Order, key=lambda o: o.order_id)
    >> process("STOCK")
    >> call(
        reserve,
        retry=Retry(attempts=5, backoff=timedelta(seconds=1)),
        timeout=timedelta(seconds=5),
        on_error=remember_error,
    )
    >> listen(pings, match=lambda o: o.order_id, timeout=timedelta(hours=1), on_timeout=gave_up)
)
