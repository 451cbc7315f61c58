"""listen(on=...) must return the state."""

from attrs import frozen

from dsl import listen, process, topic, workflow


@frozen
class Order:
    order_id: str
    paid: bool = False


@frozen
class PaymentResult:
    order_id: str
    ok: bool


def paid_flag(o: Order, e: PaymentResult) -> bool:
    return e.ok


payments = topic("PAYMENT_LISTENER", PaymentResult, key=lambda m: m.order_id)

Orders = (
    workflow("Orders", Order, key=lambda o: o.order_id)
    >> process("PAYMENT")
    >> listen(payments, match=lambda o: o.order_id, on=paid_flag)  # E: Cannot infer value of type parameter "S" of "listen"  [misc]  # E: Argument "on" to "listen" has incompatible type "Callable[[Order, PaymentResult], bool]"; expected "Callable[[Order, PaymentResult], Order] | None"  [arg-type]
)
