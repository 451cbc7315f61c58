"""Every diagnostic code `daggerc` prints: a short title and a one-line explanation.

DGR0xx: loading and constructing DSL values; DGR1xx: the structure of a workflow;
DGR2xx: types, messages and keys; DGR3xx: what compiling finds, above all type errors that mypy
reports in the generated code (mapped back to the DSL line). Codes are stable: never reuse or renumber one.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from attrs import frozen


@frozen
class Code:
    code: str
    title: str
    explanation: str


_MYPY = "type error in user code (from mypy)"

_TABLE: tuple[Code, ...] = (
    Code("DGR000", "no such input", "a path or module given to daggerc does not exist"),
    Code("DGR001", "DSL file fails", "a DSL file raised while being imported or built a bad value"),
    Code("DGR002", "bad '>>' operand", "the right side of '>>' must be a task or a process"),
    Code("DGR003", "not an attrs class", "state and message types must be attrs classes"),
    Code("DGR004", "bad duration", "a timeout, delay or interval is not a positive timedelta"),
    Code("DGR101", "duplicate process", "two processes of one workflow share a name"),
    Code("DGR102", "duplicate workflow", "two workflows checked together share a name"),
    Code("DGR103", "duplicate label", "a decide(...) branches mapping names one label twice"),
    Code("DGR104", "empty process", "a process has no tasks"),
    Code("DGR105", "empty parallel", "parallel(...) was given no branches"),
    Code("DGR106", "empty branch", "a decide or parallel branch is a process chain with no tasks"),
    Code("DGR107", "no process", "a workflow has no process"),
    Code("DGR108", "task outside a process", "a task comes before the first process of a workflow"),
    Code("DGR109", "unreachable task", "a task or process comes after one that always fails"),
    Code("DGR110", "local name captured", "a callable uses a local variable or is defined locally"),
    Code("DGR111", "one-branch parallel", "parallel(...) with one branch runs just that branch"),
    Code("DGR112", "unknown name", "a callable uses a global name its module does not define"),
    Code("DGR201", "topic message clash", "one topic name is declared with two message types"),
    Code("DGR202", "command builder type", "a command's builder does not make the topic's message"),
    Code("DGR203", "field not encodable", "a state or message field has a type with no encoding"),
    Code("DGR204", "correlation key type", "listen(match=...) and the topic's key differ in type"),
    Code("DGR205", "timer type", "a sleep, until or poll deadline callable returns the wrong type"),
    Code("DGR206", "call signature", "a call(...) function does not take and return the state"),
    Code("DGR207", "listener signature", "listen's on/on_timeout does not fit state and message"),
    Code("DGR208", "decision not exhaustive", "an Enum, Literal or bool decide misses a value"),
    Code("DGR209", "decision label type", "a decide label or predicate has the wrong type"),
    Code("DGR210", "key type", "a topic or workflow key does not return str or a NewType of it"),
    Code("DGR211", "process state", "a process declares another state type than its workflow"),
    Code("DGR212", "predicate or reason type", "a poll check is not bool or a fail reason not str"),
    Code("DGR300", _MYPY, "mypy reports an error in the compiled form of a DSL expression"),
    Code("DGR301", _MYPY, "a lambda's body does not type-check where it is passed"),
    Code("DGR302", _MYPY, "a named function does not fit the argument it is passed as"),
    Code("DGR303", _MYPY, "a constant argument does not fit its argument's type"),
    Code("DGR311", "local name in a lambda", "a lambda uses a name that is not module-level"),
    Code("DGR312", "lambda arity", "a lambda takes the wrong number of parameters"),
    Code("DGR313", "not importable", "the generated module cannot import a callable"),
    Code("DGR314", "label not writable", "a decide label cannot be written into generated code"),
    Code("DGR315", "topic message clash", "while compiling: one topic name, two message types"),
    Code("DGR320", "no codec", "while compiling: a field type or default has no JSON codec"),
    Code(
        "DGR321",
        "workflow changed",
        "a build changes a workflow's version: its runs in flight cannot be continued by it",
    ),
    Code("DGR399", "compiler bug", "the compiler produced code mypy rejects; please report it"),
)

CODES: Mapping[str, Code] = MappingProxyType({entry.code: entry for entry in _TABLE})


def explain(code: str) -> Code:
    """The table entry of `code`; a KeyError names the unknown code."""
    try:
        return CODES[code]
    except KeyError:
        raise KeyError(f"unknown diagnostic code {code!r}; see codegen/codes.py") from None
