"""A mypy quirk (attrs plugin, mypy 2.4.1), pinned so that a fix is noticed: `evolve` inside a
lambda written directly in the right operand of `>>` is checked once with a `Never` state and
reported, although the code is correct. The recommended forms are in
tests/typing/pass/evolve_recommended_forms.py."""

from attrs import evolve, frozen

from dsl import call, process, workflow


@frozen
class Order:
    order_id: str
    paid: bool = False


Orders = (
    workflow("Orders", Order, key=lambda o: o.order_id)
    >> process("PAYMENT")
    >> call(lambda o: evolve(o, paid=True))  # E: Argument 1 to "evolve" has incompatible type "Never"; expected an attrs class  [misc]
)
