"""Optional OpenTelemetry spans, with the trace context carried in Kafka message headers.

`opentelemetry-api` is an optional dependency (`pip install dagger-workflows[tracing]`).
Without it every function here is a cheap no-op. With only the API installed (no SDK) spans
are not recorded, but the W3C `traceparent` still flows from each consumed message to the
messages its transition sends, so a tracing backend upstream and downstream sees one trace.

The engine wraps the processing of one consumed message in `span(...)` with the message's
headers, and adds `inject(headers)` to each message it sends inside that span.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from types import ModuleType
from typing import Any

from runtime.types import TRACE_HEADER

Headers = tuple[tuple[str, bytes], ...]
Attributes = Mapping[str, str | bool | int | float]

_STATE_HEADER = "tracestate"
_TRACER_NAME = "dagger.runtime"


@functools.cache
def _otel() -> ModuleType | None:
    """The `opentelemetry.trace` module, or None when tracing is not installed."""
    try:
        from opentelemetry import trace  # noqa: PLC0415 -- optional dependency, probed lazily
    except ImportError:
        return None
    return trace


@functools.cache
def _propagator() -> Any:
    from opentelemetry.trace.propagation.tracecontext import (  # noqa: PLC0415 -- optional
        TraceContextTextMapPropagator,
    )

    return TraceContextTextMapPropagator()


_checked = [0.0, 0.0]  # [when the provider was last looked at, 1.0 if it records]


def _recording(trace: ModuleType) -> bool:
    """True when an SDK tracer provider is installed (the API alone records nothing). Looked up
    at most once a second: the lookup reads the environment, too slow for every message."""
    now = time.monotonic()
    if now - _checked[0] > 1.0:
        provider = trace.get_tracer_provider()
        recording = not isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider)
        _checked[:] = [now, 1.0 if recording else 0.0]
    return _checked[1] == 1.0


def enabled() -> bool:
    """True when opentelemetry-api is importable."""
    return _otel() is not None


def wanted(headers: Headers = ()) -> bool:
    """True when a span would be recorded for a message with `headers`, or its trace context
    would flow on (what `span` then does)."""
    trace = _otel()
    return trace is not None and (any(k == TRACE_HEADER for k, _ in headers) or _recording(trace))


def _carrier(headers: Headers) -> dict[str, str]:
    wanted = (TRACE_HEADER, _STATE_HEADER)
    return {k: v.decode("latin-1") for k, v in headers if k in wanted}


_NO_SPAN: AbstractContextManager[None] = nullcontext()


def span(
    name: str, *, headers: Headers = (), attributes: Attributes | None = None
) -> AbstractContextManager[None]:
    """Run the block in a span whose parent is the trace context found in `headers`, if any.
    When nothing would record it and no context would flow on, a shared no-op (every message
    goes through here)."""
    trace = _otel()
    if trace is None or not wanted(headers):
        return _NO_SPAN
    return _span(trace, name, headers, attributes)


@contextmanager
def _span(
    trace: ModuleType, name: str, headers: Headers, attributes: Attributes | None
) -> Iterator[None]:
    parent = _propagator().extract(_carrier(headers))
    tracer = trace.get_tracer(_TRACER_NAME)
    kind = trace.SpanKind.CONSUMER if headers else trace.SpanKind.INTERNAL
    with tracer.start_as_current_span(name, context=parent, kind=kind, attributes=attributes):
        yield


def inject(headers: Headers) -> Headers:
    """`headers` plus the current trace context (replacing any there); unchanged when none."""
    if _otel() is None:
        return headers
    carrier: dict[str, str] = {}
    _propagator().inject(carrier)
    if not carrier:
        return headers
    kept = tuple((k, v) for k, v in headers if k not in carrier)
    return kept + tuple((k, v.encode("latin-1")) for k, v in sorted(carrier.items()))


def current_traceparent() -> str | None:
    """The `traceparent` of the current span, for log lines; None outside a traced block."""
    for key, value in inject(()):
        if key == TRACE_HEADER:
            return value.decode("latin-1")
    return None
