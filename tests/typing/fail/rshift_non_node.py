"""Only tasks and processes go on the right of `>>`."""

from attrs import frozen

from dsl import process, workflow


@frozen
class Order:
    order_id: str


Orders = workflow("Orders", Order, key=lambda o: o.order_id) >> process("P") >> "call(ship)"  # E: Unsupported operand types for >> ("Workflow[Order]" and "str")  [operator]
