"""Run the check stage on workflows built in a test, as `daggerc check` would after loading."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from codegen.check import check
from codegen.diagnostics import Diagnostic
from codegen.loader import LoadedWorkflow
from dsl.model import Workflow


def loaded(*workflows: Workflow[Any], namespace: ModuleType | None = None) -> list[LoadedWorkflow]:
    module = namespace or ModuleType("dsl_under_test")
    return [
        LoadedWorkflow(f"W{i}", module.__name__, wf.location.file, wf, module)
        for i, wf in enumerate(workflows)
    ]


def run(*workflows: Workflow[Any], namespace: ModuleType | None = None) -> list[Diagnostic]:
    """Every diagnostic of the check stage for `workflows`."""
    return check(loaded(*workflows, namespace=namespace))


def codes(diagnostics: list[Diagnostic]) -> list[str]:
    return [d.code for d in diagnostics]


def only(diagnostics: list[Diagnostic], code: str) -> Diagnostic:
    """The one diagnostic with `code`; fails listing what was found otherwise."""
    found = [d for d in diagnostics if d.code == code]
    assert len(found) == 1, f"expected one {code}, got {[(d.code, d.message) for d in diagnostics]}"
    return found[0]
