"""How to write `attrs.evolve` folds so mypy (2.4.1, attrs plugin) accepts them.

A lambda calling `evolve` written directly in the right operand of `>>` is reported with a spurious
`Argument 1 to "evolve" has incompatible type "Never"` (pinned in
tests/typing/fail/attrs_evolve_in_rshift_lambda.py). Each form below is checked fully instead.
"""

from attrs import evolve, frozen

from dsl import Step, call, listen, process, topic, workflow


@frozen
class Order:
    order_id: str
    paid: bool = False
    tries: int = 0


@frozen
class PaymentResult:
    order_id: str
    ok: bool


payments = topic("PAYMENT_LISTENER", PaymentResult, key=lambda m: m.order_id)


# 1. a named function: also the clearest in generated code and diagnostics
def record_payment(o: Order, e: PaymentResult) -> Order:
    return evolve(o, paid=e.ok)


# 2. a task bound to an annotated name, then chained
count_try: Step[Order] = call(lambda o: evolve(o, tries=o.tries + 1))

# 3. the constructor instead of evolve, when the class is small
mark_paid = call(lambda o: Order(o.order_id, True, o.tries))

Orders = (
    workflow("Orders", Order, key=lambda o: o.order_id)
    >> process("PAYMENT")
    >> count_try
    >> listen(payments, match=lambda o: o.order_id, on=record_payment)
    >> mark_paid
)
