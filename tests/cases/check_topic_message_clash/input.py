"""One Kafka topic name declared with two message types."""

from attrs import frozen

from dsl import command, listen, process, topic, workflow


@frozen
class Order:
    order_id: str


@frozen
class Charge:
    order_id: str
    amount_cents: int


@frozen
class Refund:
    order_id: str


charges = topic("PAYMENTS", Charge, key=lambda m: m.order_id)
refunds = topic("PAYMENTS", Refund, key=lambda m: m.order_id)

Orders = (
    workflow("Orders", Order, key=lambda o: o.order_id)
    >> process("PAYMENT")
    >> command(charges, lambda o: Charge(o.order_id, 100))
    >> listen(refunds, match=lambda o: o.order_id)
)
