"""listen(on=...) takes the topic's message as its second parameter."""

from attrs import evolve, frozen

from dsl import listen, process, topic, workflow


@frozen
class Order:
    order_id: str
    packed: bool = False


@frozen
class PaymentResult:
    order_id: str
    ok: bool


@frozen
class BoxPacked:
    order_id: str


def record_box(o: Order, e: BoxPacked) -> Order:
    return evolve(o, packed=True)


payments = topic("PAYMENT_LISTENER", PaymentResult, key=lambda m: m.order_id)

Orders = (
    workflow("Orders", Order, key=lambda o: o.order_id)
    >> process("PAYMENT")
    >> listen(payments, match=lambda o: o.order_id, on=record_box)  # E: Argument "on" to "listen" has incompatible type "Callable[[Order, BoxPacked], Order]"; expected "Callable[[Never, PaymentResult], Never] | None"  [arg-type]  # E: Argument "on" to "listen" has incompatible type "Callable[[Order, BoxPacked], Order]"; expected "Callable[[Order, PaymentResult], Order] | None"  [arg-type]
)
