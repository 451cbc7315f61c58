"""listen(match=...) must give the topic's key type; NewTypes do not mix."""

from typing import NewType

from attrs import frozen

from dsl import listen, process, topic, workflow

OrderId = NewType("OrderId", str)
BoxId = NewType("BoxId", str)


@frozen
class Order:
    order_id: OrderId
    box_id: BoxId


@frozen
class PaymentResult:
    order_id: OrderId
    ok: bool


payments = topic("PAYMENT_LISTENER", PaymentResult, key=lambda m: m.order_id)

Orders = (
    workflow("Orders", Order, key=lambda o: o.order_id)
    >> process("PAYMENT")
    >> listen(payments, match=lambda o: o.box_id)  # E: Argument "match" to "listen" has incompatible type "Callable[[Order], BoxId]"; expected "Callable[[Order], OrderId]"  [arg-type]  # E: Incompatible return value type (got "BoxId", expected "OrderId")  [return-value]
)
