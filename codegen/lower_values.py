"""Small lowering helpers: DSL values written as source text, node labels, inferred types, file
names as generated code shows them, and the mutable node drafts lowering fills in."""

from __future__ import annotations

import ast
import enum
import functools
import os
import typing
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
from attrs import define

from codegen.codecs import literal
from codegen.imports import ImportTracker
from codegen.ir import Arg, Function, NodeIR
from codegen.lift import find_lambda, is_lambda
from codegen.loader import module_name_for
from dsl.model import (
    CallStep,
    CommandStep,
    DecideStep,
    FailStep,
    ListenStep,
    ParallelStep,
    PollStep,
    Retry,
    SleepStep,
    Step,
    Topic,
    UntilStep,
)
from runtime.types import RetryPolicy


def seconds(delta: timedelta) -> str:
    return repr(delta.total_seconds())


def timedelta_source(delta: timedelta, local: str) -> str:
    """`timedelta(seconds=1)`: exact (days, seconds, microseconds), zero parts left out."""
    parts = [
        f"{unit}={value}"
        for unit, value in (
            ("days", delta.days),
            ("seconds", delta.seconds),
            ("microseconds", delta.microseconds),
        )
        if value
    ]
    return f"{local}({', '.join(parts) or '0'})"


def human(delta: timedelta) -> str:
    """`1h30m`, `5s`, `250ms`: a duration as a node label shows it."""
    total_ms = round(delta.total_seconds() * 1000)
    if total_ms % 1000:
        return f"{total_ms}ms"
    total, out = total_ms // 1000, ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if total >= size:
            out += f"{total // size}{unit}"
            total %= size
    return out or "0s"


def retry_policy(retry: Retry, tracker: ImportTracker) -> str | None:
    """`RetryPolicy(attempts=5)`: the arguments that differ from the default, or None."""
    values = {
        "attempts": retry.attempts,
        "initial": retry.backoff.total_seconds(),
        "multiplier": retry.multiplier,
        "maximum": retry.max_backoff.total_seconds(),
        "jitter": retry.jitter,
    }
    default = RetryPolicy()
    changed = [f"{k}={v!r}" for k, v in values.items() if getattr(default, k) != v]
    if not changed:
        return None
    return f"{tracker.name('runtime.types', 'RetryPolicy')}({', '.join(changed)})"


def _callable_name(fn: object) -> str:
    name = getattr(fn, "__name__", "")
    return "" if is_lambda(fn) or not isinstance(name, str) else name


def _named(kind: str, fn: object) -> str:
    name = _callable_name(fn)
    return f"{kind} {name}" if name else kind


def _sleep_label(step: SleepStep[object]) -> str:
    delay = step.delay
    return f"sleep {human(delay)}" if isinstance(delay, timedelta) else _named("sleep", delay)


_LABELS: dict[type, Callable[[Any], str]] = {
    CommandStep: lambda s: f"command {s.topic.name}",
    ListenStep: lambda s: f"listen {s.topic.name}",
    CallStep: lambda s: _named("call", s.fn),
    DecideStep: lambda s: _named("decide", s.choose),
    ParallelStep: lambda s: "parallel" if s.join == "all" else f"parallel {s.join}",
    SleepStep: _sleep_label,
    UntilStep: lambda s: _named("until", s.at),
    PollStep: lambda s: _named("poll", s.check),
    FailStep: lambda s: "fail",
}


def step_label(step: Step[object]) -> str:
    """What a node shows in graphs and status output: `command PAYMENT_COMMAND`, `call ship`."""
    return _LABELS[type(step)](step)


def branch_text(label: object, boolean: bool) -> str:
    """A decision branch as names and graph edges show it: `then`, `otherwise`, `Size.SMALL`."""
    if boolean:
        return "then" if label else "otherwise"
    if isinstance(label, enum.Enum):
        return f"{type(label).__name__}.{label.name}"
    return label if isinstance(label, str) else repr(label)


def label_value(label: object, tracker: ImportTracker) -> str:
    """A decision label as source text. Raises TypeError for labels code cannot spell."""
    if label is None or isinstance(label, bool | int):
        return repr(label)
    if isinstance(label, str):
        return literal(label)
    if isinstance(label, enum.Enum):
        return f"{tracker.annotation(type(label))}.{label.name}"
    raise TypeError(
        f"decision label {label!r} cannot be written in generated code; "
        "use str, int, bool or Enum labels"
    )


def choose_type(labels: Sequence[object], tracker: ImportTracker) -> str:
    """The return type of a decision's `choose`, from its labels."""
    kinds = {type(label) for label in labels}
    if len(kinds) != 1:
        return "object"
    kind = kinds.pop()
    if issubclass(kind, enum.Enum):
        return tracker.annotation(kind)
    if kind in (bool, int, str):
        return kind.__name__
    return "object"


def _str_like(tp: object) -> bool:
    while isinstance(tp, typing.NewType):
        tp = tp.__supertype__
    return tp is str


def key_type(topic: Topic[object, str], tracker: ImportTracker) -> str:
    """The topic's key type K: the message field a `lambda m: m.field` key reads, or a key
    function's return annotation; `str` when neither says (or when it is not a str type)."""
    found: object = None
    fn = topic.key
    if is_lambda(fn):
        node = find_lambda(fn.__code__)
        body = node.body if node is not None else None
        if isinstance(body, ast.Attribute) and isinstance(body.value, ast.Name):
            found = _field_type(topic.message, body.attr)
    else:
        try:
            found = typing.get_type_hints(fn).get("return")
        except Exception:  # an unresolvable annotation: the wrapper's `str` still checks it
            found = None
    return tracker.annotation(found) if _str_like(found) else "str"


def _field_type(cls: type, name: str) -> object:
    if not attrs.has(cls) or name not in attrs.fields_dict(cls):
        return None
    try:
        return typing.get_type_hints(cls).get(name)
    except Exception:  # unresolvable: reported by the codec of the message
        return None


@functools.lru_cache(maxsize=1024)
def relative_file(file: str) -> str:
    """A DSL file as generated code names it: relative to the folder its package imports from,
    so the output does not depend on where the compiler runs."""
    _, root = module_name_for(Path(file))
    try:
        return Path(os.path.relpath(file, root)).as_posix()
    except ValueError:
        return Path(file).as_posix()


@define
class Draft:
    """A node while lowering builds the tree; frozen into a NodeIR once its children are known."""

    id: int
    kind: str
    cls: str
    name: str
    parent: int
    line: str
    label: str
    children: list[int] = attrs.Factory(list)
    args: list[Arg] = attrs.Factory(list)
    branch_labels: list[str] = attrs.Factory(list)

    def freeze(self) -> NodeIR:
        return NodeIR(
            self.id,
            self.kind,
            self.cls,
            self.name,
            self.parent,
            self.line,
            self.label,
            tuple(self.children),
            tuple(self.args),
            tuple(self.branch_labels),
        )


def same_expression(a: Function, b: Function) -> bool:
    """Whether two lifted one-parameter functions return the same expression of their parameter
    (whatever each calls it): a listener whose `match` is the workflow's `key` is `by_key`."""
    if len(a.params) != 1 or len(b.params) != 1:
        return False
    return _shape(a) == _shape(b)


def _shape(f: Function) -> str:
    tree = ast.parse(f.body.strip(), mode="eval")
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == f.params[0].name:
            node.id = "<param>"  # no identifier can be spelled so
    return ast.dump(tree)
