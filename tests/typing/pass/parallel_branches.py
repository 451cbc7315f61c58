"""parallel: tasks and whole process chains as branches, joined on all or any."""

from datetime import timedelta

from attrs import frozen

from dsl import call, parallel, process, sleep, workflow


@frozen
class Order:
    order_id: str


def label(o: Order) -> Order:
    return o


async def notify(o: Order) -> Order:
    return o


packing = process("PACKING", state=Order) >> call(label) >> call(label)

Orders = (
    workflow("Orders", Order, key=lambda o: o.order_id)
    >> process("SHIPPING")
    >> parallel(call(label), call(notify), packing)
    >> parallel(call(notify), sleep(timedelta(minutes=1)), join="any")
)
