"""User callables against what the runtime passes them: arity, annotated parameters, results."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta

from dsl import call, listen, poll, process, sleep, topic, until, workflow

from .models import Order, Other, Paid, keep
from .support import codes, only, run


async def fetch(o: Order) -> Order:
    return o


def deferred(o: Order) -> Awaitable[Order]:
    return fetch(o)


def with_default(o: Order, attempt: int = 1) -> Order:
    return o


def general(o: object) -> Order:
    assert isinstance(o, Order)
    return o


def on_error(o: Order, error: str) -> Order:
    return o


def wrong_async(o: Order) -> Other:
    return Other("x")


async def delay_of(o: Order) -> timedelta:
    return timedelta(seconds=1)


def test_calls_that_fit_pass() -> None:
    wf = (
        workflow("W", Order, key=lambda o: o.order_id)
        >> process("A")
        >> call(fetch, on_error=on_error)
        >> call(deferred)
        >> call(with_default)
        >> call(general)
        >> call(lambda o: o)
    )
    assert codes(run(wf)) == []


def test_an_async_timer_function_returns_a_coroutine_not_a_timedelta() -> None:
    wf = workflow("W", Order, key=lambda o: o.order_id) >> process("A") >> sleep(delay_of)  # type: ignore[arg-type]
    found = only(run(wf), "DGR205")
    assert found.message == (
        "'delay' of sleep(delay_of) returns Coroutine[Any, Any, timedelta], "
        "expected timedelta (a delay)"
    )


def test_an_optional_result_is_left_to_mypy() -> None:
    def maybe(o: Order) -> datetime | None:
        return o.placed_at

    wf = workflow("W", Order, key=lambda o: o.order_id) >> process("A") >> until(maybe)  # type: ignore[arg-type]
    assert "DGR205" not in codes(run(wf))


def test_a_lambda_of_the_wrong_arity_is_reported() -> None:
    paid = topic("PAID", Paid, key=lambda m: m.order_id)
    wf = (
        workflow("W", Order, key=lambda o: o.order_id)
        >> process("A")
        >> listen(
            paid,
            match=lambda o: o.order_id,
            on=lambda o: o,  # type: ignore[arg-type, misc]  # the mistake under test
        )
    )
    found = only(run(wf), "DGR207")
    assert "the lambda takes 1 argument, expected 2" in found.message


def test_builtins_and_classes_are_left_to_mypy() -> None:
    wf = (
        workflow("W", Order, key=lambda o: o.order_id)
        >> process("A")
        >> poll(
            bool,
            every=timedelta(seconds=1),
            deadline=lambda o: datetime.now(UTC),
        )
    )
    assert codes(run(wf)) == []


def test_the_first_problem_of_a_callable_is_its_only_report() -> None:
    wf = workflow("W", Order, key=lambda o: o.order_id) >> process("A") >> call(wrong_async)  # type: ignore[arg-type, misc]
    found = only(run(wf), "DGR206")
    assert (
        found.message
        == "'fn' of call(wrong_async) returns Other, expected Order (the workflow state)"
    )
    assert keep is not None
