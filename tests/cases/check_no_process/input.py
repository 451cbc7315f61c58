"""A workflow that was declared but never given a process."""

from attrs import frozen

from dsl import workflow


@frozen
class Order:
    order_id: str


Orders = workflow("Orders", Order, key=lambda o: o.order_id)
