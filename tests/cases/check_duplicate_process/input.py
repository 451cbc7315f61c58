"""Two processes named PAYMENT in one workflow, one of them in a branch."""

from attrs import evolve, frozen

from dsl import call, decide, process, workflow


@frozen
class Order:
    order_id: str
    paid: bool = False


def pay(o: Order) -> Order:
    return evolve(o, paid=True)


retry_payment = process("PAYMENT", state=Order) >> call(pay)

Orders = (
    workflow("Orders", Order, key=lambda o: o.order_id)
    >> process("PAYMENT")
    >> call(pay)
    >> decide(lambda o: o.paid, then=call(pay), otherwise=retry_payment)
)
