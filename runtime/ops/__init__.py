"""Operations: HTTP API and web page, Prometheus metrics, tracing, status updates, structured logs.

Needs the `ops` extra (aiohttp, prometheus-client); tracing uses opentelemetry-api when present.
Nothing is imported here, so `import runtime.ops.hooks` stays cheap for the engine.
"""
