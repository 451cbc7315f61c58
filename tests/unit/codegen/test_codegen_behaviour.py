"""Generated modules run: their `start`/`apply` driven through every path of the order workflow
(the committed generated/orders.py) and of the build_* cases: decision branches, join all and
any, timers, polling, timeouts, retries, failure and cancellation."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import pytest
from codegen_support import (
    build_case,
    fresh_input,  # noqa: F401 - a fixture: pytest finds it by name
    import_built,
    messages,
)
from machine_driver import Driver

from examples.orders import BoxId, BoxPacked, Charge, Fulfil, Order, OrderId, PaymentResult
from generated import orders
from runtime.types import Status

T0 = 1_000.0
A1 = OrderId("A1")
B7 = BoxId("B7")


def an_order() -> Order:
    return Order(A1, 1250, "ada")


def paid(driver: Driver, ok: bool = True) -> None:
    driver.deliver("PAYMENT_LISTENER", PaymentResult(A1, ok, B7))


@pytest.fixture
def case(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[[str], ModuleType]]:
    request.getfixturevalue("fresh_input")

    def load(name: str) -> ModuleType:
        result = build_case(name, typecheck=False)
        assert messages(result) == []
        return import_built(result, tmp_path, f"built_{name}")

    yield load


# ---------------------------------------------------------------------- the order workflow


def test_an_order_that_is_paid_runs_to_completion() -> None:
    run = Driver(orders, an_order(), now=T0)
    assert run.sent_to("PAYMENT_COMMAND") == [Charge(A1, 1250)]
    assert run.waits == {("PAYMENT_LISTENER", "A1")}
    paid(run)
    assert run.sent_to("FULFILLMENT_COMMAND") == [Fulfil(B7, A1)]
    assert run.status("PAYMENT/decide/otherwise") is Status.SKIPPED
    run.deliver("FULFILLMENT_LISTENER", BoxPacked(B7, "ups"))
    run.advance(0)  # until(placed_at) is already due
    assert run.instance.status is Status.COMPLETED
    assert run.finished == [Status.COMPLETED]
    state = run.state
    assert (state.paid, state.fraud_checked, state.reserved, state.packed) == (
        True,
        True,
        True,
        True,
    )
    assert (state.carrier, state.labels, state.pickup_booked, state.notified) == (
        "ups",
        2,
        True,
        True,
    )
    assert run.status("CONFIRM/parallel any/branch 2/until ship_by") is Status.STOPPED
    assert run.timers == {}
    assert run.waits == set()


def test_a_declined_payment_takes_the_refund_branch_and_fails() -> None:
    run = Driver(orders, an_order(), now=T0)
    paid(run, ok=False)
    assert run.instance.status is Status.FAILED
    assert run.instance.error == "payment declined for A1"
    assert run.status("PAYMENT/decide/otherwise/REFUND/fail") is Status.FAILED
    assert run.status("PAYMENT/decide/then/call check_fraud") is Status.SKIPPED
    assert run.status("PREPROCESS_FRAUD") is Status.NOT_STARTED
    assert run.sent_to("FULFILLMENT_COMMAND") == []


def test_the_payment_timeout_skips_the_rest_of_the_process_and_moves_on() -> None:
    run = Driver(orders, an_order(), now=T0)
    run.advance(3600)
    assert run.status("PAYMENT") is Status.COMPLETED
    assert run.status("PAYMENT/listen PAYMENT_LISTENER") is Status.STOPPED
    assert run.status("PAYMENT/decide") is Status.SKIPPED
    assert run.status("PREPROCESS_FRAUD") is Status.COMPLETED
    assert ("PAYMENT_LISTENER", "A1") not in run.waits


def test_cancel_stops_the_instance_and_releases_its_waits_and_timers() -> None:
    run = Driver(orders, an_order(), now=T0)
    run.cancel()
    assert run.instance.status is Status.STOPPED
    assert run.finished == [Status.STOPPED]
    assert (run.waits, run.timers) == (set(), {})


def test_failing_calls_are_retried_with_backoff_then_fail_the_workflow() -> None:
    node = "PAYMENT/decide/then/call check_fraud"
    run = Driver(orders, an_order(), now=T0, failing=frozenset({node}))
    paid(run)
    assert run.run_of(node).attempt == 2
    (retry_at,) = [due for timer, due in run.timers.items() if timer.startswith("retry:")]
    assert T0 < retry_at < T0 + 1  # RetryPolicy(): 0.1 s initial backoff, jittered
    run.advance(60)
    assert run.run_of(node).attempt == 3
    run.advance(60)
    assert run.status(node) is Status.FAILED
    assert run.instance.status is Status.FAILED
    assert run.finished == [Status.FAILED]


def test_the_handle_describes_the_workflow() -> None:
    wf = orders.OrderWorkflow
    assert (wf.name, wf.source, wf.state_type) == (
        "OrderWorkflow",
        "examples/orders.py:OrderWorkflow",
        Order,
    )
    assert len(wf.version) == 16
    assert [t.name for t in wf.topics] == [
        "PAYMENT_COMMAND",
        "PAYMENT_LISTENER",
        "FULFILLMENT_COMMAND",
        "FULFILLMENT_LISTENER",
    ]
    assert all(node.id == index for index, node in enumerate(wf.nodes))
    assert all(wf.nodes[node.parent].id < node.id for node in wf.nodes[1:])
    assert len({node.name for node in wf.nodes}) == len(wf.nodes)
    assert wf.key(an_order()) == "A1"
    assert wf.decode_state(wf.encode_state(an_order())) == an_order()
    assert wf.graph.startswith("flowchart TD\n")


# ---------------------------------------------------------------------- the build_* cases


def test_an_enum_decision_runs_the_labelled_branch_only(case: Callable[[str], ModuleType]) -> None:
    m = case("build_decide")
    run = Driver(m, m.Signup("u1", m.Tier.PRO, "DE", verified=True), now=T0)
    assert run.instance.status is Status.COMPLETED
    assert run.status("ROUTE/decide #2/Tier.PRO/PRO_SETUP/call verify #2") is Status.COMPLETED
    assert run.status("ROUTE/decide #2/Tier.FREE/call verify") is Status.SKIPPED
    assert run.status("ROUTE/decide region/eu/call verify") is Status.COMPLETED
    assert run.status("ROUTE/decide region/other/call verify") is Status.SKIPPED


def test_an_unmet_predicate_fails_with_the_constant_reason(
    case: Callable[[str], ModuleType],
) -> None:
    m = case("build_decide")
    run = Driver(m, m.Signup("u1", m.Tier.FREE, "US"), now=T0)
    assert run.instance.status is Status.FAILED
    assert run.instance.error == "not verified"


def test_join_all_waits_for_every_branch_and_join_any_for_the_first(
    case: Callable[[str], ModuleType],
) -> None:
    m = case("build_parallel")
    run = Driver(m, m.Report("r1"), now=T0)
    assert run.instance.status is Status.COMPLETED
    assert (run.state.sales, run.state.stock) == (True, True)
    assert run.status("GATHER/parallel/branch 2/STOCK") is Status.COMPLETED
    assert run.status("GATHER/parallel any/branch 2/sleep 5m") is Status.STOPPED
    assert run.timers == {}


def test_a_listener_timeout_runs_its_handler(case: Callable[[str], ModuleType]) -> None:
    m = case("build_listen")
    run = Driver(m, m.Parcel(m.ParcelId("p1")), now=T0)
    run.deliver("PARCEL_SCANNED", m.Scanned(m.ParcelId("p1"), "depot-9"))
    assert run.state.scans == 1
    run.deliver("PARCEL_SCANNED", m.Scanned(m.ParcelId("p1"), "depot-10"))
    assert run.state.scans == 1  # the second listener keeps the state as it is
    run.advance(timedelta(days=3).total_seconds())
    assert run.instance.status is Status.COMPLETED
    assert run.state.lost is True
    assert run.state.delivered is False


def test_timers_and_polling_follow_the_state(case: Callable[[str], ModuleType]) -> None:
    m = case("build_timers")
    starts = datetime(2030, 1, 1, 12, tzinfo=UTC)
    now = (starts - timedelta(days=3)).timestamp()
    run = Driver(m, m.Booking("b1", starts, confirmed=True, reminder_hours=2), now=now)
    assert list(run.timers.values()) == [pytest.approx(now + 90.000005)]
    run.advance(91)  # sleep over; the poll's first check passes
    assert run.status("CONFIRM") is Status.COMPLETED
    assert list(run.timers.values()) == [pytest.approx(now + 91 + 2 * 3600)]
    run.advance(2 * 3600)  # sleep(reminder_delay)
    run.advance(2 * 60)  # sleep(lambda b: minutes)
    assert run.status("REMIND/until") is Status.EXECUTING
    assert list(run.timers.values()) == [starts.timestamp() - 3600]
    run.advance(starts.timestamp() - 3600 - run.now)  # until #2 (midnight) is past already
    assert run.status("REMIND/until #2") is Status.COMPLETED
    assert run.instance.status is Status.FAILED
    assert run.instance.error == "booking b1 expired"


def test_a_poll_rechecks_every_interval_and_fails_at_its_deadline(
    case: Callable[[str], ModuleType],
) -> None:
    m = case("build_timers")
    starts = datetime(2030, 1, 1, 12, tzinfo=UTC)
    begin = starts.timestamp() - 300
    run = Driver(m, m.Booking("b1", starts), now=begin)
    run.advance(91)
    checks = []
    while run.instance.status is Status.EXECUTING and run.now < begin + 1000:
        checks.append(sorted(run.timers.values()))
        run.advance(60)
    assert checks[0] == [pytest.approx(begin + 151)]  # every=1 minute after the first check
    assert run.status("CONFIRM/poll confirmed") is Status.FAILED
    assert run.instance.status is Status.FAILED
    assert run.now <= starts.timestamp() + 60


def test_a_call_that_keeps_failing_hands_its_error_to_on_error(
    case: Callable[[str], ModuleType],
) -> None:
    m = case("build_call")
    failing = frozenset({"SEND/call send_invoice"})
    run = Driver(m, m.Invoice("i1", 100), now=T0, fail_calls=1, failing=failing)
    for _ in range(30):
        run.advance(10)
    assert run.instance.status is Status.COMPLETED
    assert run.state.total_cents == 200  # PREPARE's first call failed once, then succeeded
    assert run.run_of("SEND/call send_invoice").attempt == 5  # Retry(attempts=5)
    assert run.state.error.startswith("boom")
    assert run.status("SEND/call send_invoice") is Status.COMPLETED
