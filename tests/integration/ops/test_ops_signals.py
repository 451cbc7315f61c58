"""Metrics, observer fan-out, trace propagation and structured logs, as a user of them sees them."""

from __future__ import annotations

import io
import json
import logging

import pytest
from prometheus_client.parser import text_string_to_metric_families

from runtime.ops import logs, tracing
from runtime.ops.hooks import BaseObserver, Observers, node_kind
from runtime.ops.metrics import Metrics
from runtime.types import TRACE_HEADER, Call, Sequence_, Status

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exposition text, parsed back as Prometheus would scrape it."""
    text = metrics.render().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_status_changes_count_per_workflow() -> None:
    metrics = Metrics()
    for status in (Status.EXECUTING, Status.EXECUTING, Status.COMPLETED, Status.FAILED):
        metrics.on_status("i", "Orders", status)
    metrics.on_status("j", "Refunds", Status.EXECUTING)
    metrics.on_status("j", "Refunds", Status.STOPPED)
    got = samples(metrics)
    wf = (("workflow", "Orders"),)
    assert got["dagger_instances_started_total", wf] == 2
    assert got["dagger_instances_completed_total", wf] == 1
    assert got["dagger_instances_failed_total", wf] == 1
    assert got["dagger_instances_cancelled_total", (("workflow", "Refunds"),)] == 1


def test_latencies_and_gauges_are_exposed() -> None:
    metrics = Metrics()
    metrics.on_transition("Orders", "listen", 0.003)
    metrics.on_store("put", 0.0007)
    metrics.on_broker("send", 0.02)
    metrics.on_timer_lag(0.2)
    metrics.on_timer_lag(-0.01)  # a timer fired early counts as no lag
    metrics.on_outbox_depth(7)
    metrics.on_dead_letter("PAYMENTS", "undecodable")
    metrics.on_early_message("PAYMENTS")
    got = samples(metrics)
    kind = (("node_kind", "listen"), ("workflow", "Orders"))
    assert got["dagger_transitions_total", kind] == 1
    assert got["dagger_transition_seconds_bucket", (("le", "0.005"), ("workflow", "Orders"))] == 1
    assert got["dagger_store_seconds_count", (("operation", "put"),)] == 1
    assert got["dagger_broker_seconds_sum", (("operation", "send"),)] == pytest.approx(0.02)
    assert got["dagger_timer_lag_seconds_count", ()] == 2
    assert got["dagger_timer_lag_seconds_sum", ()] == pytest.approx(0.2)
    assert got["dagger_outbox_depth", ()] == 7
    assert got["dagger_dead_letters_total", (("topic", "PAYMENTS"),)] == 1
    assert got["dagger_early_messages_buffered_total", (("topic", "PAYMENTS"),)] == 1


def test_two_registries_do_not_collide() -> None:
    first, second = Metrics(), Metrics()
    first.on_status("i", "W", Status.EXECUTING)
    assert ("dagger_instances_started_total", (("workflow", "W"),)) not in samples(second)


class _Recorder(BaseObserver):
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, Status]] = []

    def on_status(self, instance_id: str, workflow: str, status: Status) -> None:
        self.seen.append((instance_id, workflow, status))


class _Broken(BaseObserver):
    def on_status(self, instance_id: str, workflow: str, status: Status) -> None:
        raise RuntimeError("observer bug")


def test_a_failing_observer_is_logged_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorder = _Recorder()
    observers = Observers([_Broken(), recorder])
    with caplog.at_level(logging.ERROR, "dagger.ops"):
        observers.on_status("A1", "Orders", Status.COMPLETED)
    assert recorder.seen == [("A1", "Orders", Status.COMPLETED)]
    assert "observer bug" in caplog.text and "on_status" in caplog.text
    observers.remove(recorder)
    observers.on_status("A2", "Orders", Status.FAILED)
    assert len(recorder.seen) == 1


def test_node_kind_labels() -> None:
    assert node_kind(Sequence_(id=0, name="root", parent=-1, children=())) == "sequence"
    assert node_kind(Call(id=1, name="c", parent=0, fn=lambda s: s)) == "call"


# --------------------------------------------------------------------------- tracing


def test_trace_context_flows_from_a_consumed_message_to_the_messages_it_causes() -> None:
    assert tracing.enabled()
    incoming = ((TRACE_HEADER, PARENT.encode()), ("dagger-id", b"m1"))
    with tracing.span("dagger.process", headers=incoming, attributes={"dagger.workflow": "W"}):
        outgoing = dict(tracing.inject((("dagger-id", b"m2"),)))
        current = tracing.current_traceparent()
    assert outgoing["dagger-id"] == b"m2"
    version, trace_id, _span, _flags = outgoing[TRACE_HEADER].decode().split("-")
    assert (version, trace_id) == ("00", PARENT.split("-")[1])
    assert current == outgoing[TRACE_HEADER].decode()
    assert tracing.current_traceparent() is None  # outside the span: nothing to propagate


def test_without_opentelemetry_tracing_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tracing, "_otel", lambda: None)
    headers = (("dagger-id", b"m"),)
    with tracing.span("x", headers=((TRACE_HEADER, PARENT.encode()),)):
        assert tracing.inject(headers) == headers
    assert not tracing.enabled()


# --------------------------------------------------------------------------- logs


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_every_line_inside_an_instance_context_names_the_instance() -> None:
    stream = io.StringIO()
    handler = logs.configure(json_lines=True, stream=stream)
    try:
        user = logging.getLogger("user.code")
        with logs.instance_context(instance_id="A1", workflow="Orders", event_id="e7"):
            user.info("charging %s", "A1")
            with logs.instance_context(node="PAYMENT"):
                logging.getLogger("dagger.engine").warning("retrying")
        user.info("outside")
    finally:
        logs.remove(handler)
    first, second, third = _lines(stream)
    assert first["message"] == "charging A1"
    assert (first["instance_id"], first["workflow"], first["event_id"]) == ("A1", "Orders", "e7")
    assert "node" not in first
    assert second["node"] == "PAYMENT" and second["instance_id"] == "A1"
    assert second["level"] == "WARNING" and second["logger"] == "dagger.engine"
    assert "instance_id" not in third


def test_instance_logger_binds_node_and_event_in_text_lines() -> None:
    stream = io.StringIO()
    handler = logs.configure(stream=stream)
    try:
        log = logs.instance_logger("dagger.engine", "A1", "Orders").bind(node="SHIP", event_id="e9")
        log.info("done")
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("failed")
    finally:
        logs.remove(handler)
    text = stream.getvalue()
    first = text.splitlines()[0]
    assert first.endswith("done instance_id=A1 workflow=Orders node=SHIP event_id=e9")
    assert "failed instance_id=A1" in text and "ValueError: boom" in text
