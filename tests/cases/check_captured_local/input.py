"""Callables built inside functions: a lambda capturing a parameter, a nested function."""

from collections.abc import Callable

from attrs import evolve, frozen

from dsl import Step, call, fail, process, workflow


@frozen
class Order:
    order_id: str
    attempts: int = 0


def failing_with(prefix: str) -> Step[Order]:
    return fail(lambda o: f"{prefix}: {o.order_id}")


def make_counter() -> Callable[[Order], Order]:
    def count(o: Order) -> Order:
        return evolve(o, attempts=o.attempts + 1)

    return count


Orders = (
    workflow("Orders", Order, key=lambda o: o.order_id)
    >> process("PAYMENT")
    >> call(make_counter())
    >> failing_with("declined")
)
