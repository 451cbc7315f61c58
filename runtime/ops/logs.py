"""Structured logs: every line about an instance names the instance, workflow, node and event.

Two ways to attach the fields, both ending in the same record attributes:

- `instance_context(...)`: a context manager the engine wraps around processing one event;
  every record logged inside it (by the engine, a store, or user code in a `call`) carries the
  fields, once `ContextFilter` is on the handler (`configure` puts it there);
- `InstanceLogger`: a `LoggerAdapter` for code that holds an instance and logs about it.

`JsonFormatter` writes one JSON object a line for log pipelines; `TextFormatter` appends
`key=value` pairs to a readable line for terminals.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from collections.abc import MutableMapping
from typing import Any, NamedTuple, TextIO

FIELDS = ("instance_id", "workflow", "node", "event_id")


class LogFields(NamedTuple):
    """What a log line says about the instance it concerns (a tuple: made on every step)."""

    instance_id: str | None = None
    workflow: str | None = None
    node: str | None = None
    event_id: str | None = None

    def present(self) -> dict[str, str]:
        return {k: v for k in FIELDS if (v := getattr(self, k)) is not None}


_current: contextvars.ContextVar[LogFields] = contextvars.ContextVar(
    "dagger_log_fields",
    default=LogFields(),  # noqa: B039 -- LogFields is a tuple, so sharing the default is safe
)


class instance_context:
    """Within the block, records carry these fields (merged over any outer context). A small
    class rather than a generator: the engine enters one for every step."""

    __slots__ = ("_fields", "_token")

    def __init__(
        self,
        instance_id: str | None = None,
        workflow: str | None = None,
        node: str | None = None,
        event_id: str | None = None,
    ) -> None:
        outer = _current.get()
        self._fields = LogFields(
            instance_id if instance_id is not None else outer.instance_id,
            workflow if workflow is not None else outer.workflow,
            node if node is not None else outer.node,
            event_id if event_id is not None else outer.event_id,
        )
        self._token: contextvars.Token[LogFields] | None = None

    def __enter__(self) -> LogFields:
        self._token = _current.set(self._fields)
        return self._fields

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _current.reset(self._token)


class ContextFilter(logging.Filter):
    """Copies the current `instance_context` onto each record it passes (never drops one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _current.get().present().items():
            if getattr(record, key, None) is None:
                setattr(record, key, value)
        return True


class InstanceLogger(logging.LoggerAdapter[logging.Logger]):
    """A logger bound to one instance; `bind` narrows it to a node or an event."""

    def __init__(self, logger: logging.Logger, fields: LogFields) -> None:
        super().__init__(logger, fields.present())
        self.fields = fields

    def bind(self, *, node: str | None = None, event_id: str | None = None) -> InstanceLogger:
        changes = LogFields(node=node, event_id=event_id).present()
        return InstanceLogger(self.logger, self.fields._replace(**changes))

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        extra = dict(self.fields.present())
        extra.update(kwargs.get("extra") or {})
        kwargs["extra"] = extra
        return msg, kwargs


def instance_logger(
    logger: logging.Logger | str, instance_id: str, workflow: str, node: str | None = None
) -> InstanceLogger:
    base = logging.getLogger(logger) if isinstance(logger, str) else logger
    return InstanceLogger(base, LogFields(instance_id, workflow, node))


def record_fields(record: logging.LogRecord) -> dict[str, str]:
    """The instance fields present on a record, in the order of `FIELDS`."""
    found = {k: getattr(record, k, None) for k in FIELDS}
    return {k: str(v) for k, v in found.items() if v is not None}


class JsonFormatter(logging.Formatter):
    """One compact JSON object a line: time, level, logger, message, instance fields, error."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": round(record.created, 6),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(record_fields(record))
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, separators=(",", ":"), default=str)


class TextFormatter(logging.Formatter):
    """`time LEVEL logger message instance_id=... workflow=... node=... event_id=...`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        pairs = " ".join(f"{k}={v}" for k, v in record_fields(record).items())
        if not pairs:
            return text
        head, sep, tail = text.partition("\n")
        return f"{head} {pairs}{sep}{tail}"


def configure(
    *, json_lines: bool = False, level: int = logging.INFO, stream: TextIO | None = None
) -> logging.Handler:
    """Send the `dagger` loggers (and user code's, via the root) to `stream` with instance fields."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    return handler


def remove(handler: logging.Handler) -> None:
    logging.getLogger().removeHandler(handler)
