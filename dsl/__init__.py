"""dagger's DSL: typed fluent workflow expressions, checked and compiled by `daggerc`."""

from dsl.builders import (
    call,
    command,
    decide,
    fail,
    listen,
    parallel,
    poll,
    process,
    sleep,
    topic,
    until,
    workflow,
)
from dsl.errors import DslError, Location
from dsl.model import Flow, Node, Retry, Step, Topic, Workflow

__all__ = [
    "DslError",
    "Flow",
    "Location",
    "Node",
    "Retry",
    "Step",
    "Topic",
    "Workflow",
    "call",
    "command",
    "decide",
    "fail",
    "listen",
    "parallel",
    "poll",
    "process",
    "sleep",
    "topic",
    "until",
    "workflow",
]
