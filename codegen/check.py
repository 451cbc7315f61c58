"""Stage 2, check: every semantic problem of the loaded workflows, never stopping at the first.

Each family of checks lives in `codegen/checks/` and yields diagnostics; this stage runs them all
and returns the diagnostics once each, sorted by place. The codes are listed in `codegen/codes.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from codegen.checks import (
    closures,
    decisions,
    encoding,
    keys,
    names,
    reach,
    signatures,
    structure,
)
from codegen.diagnostics import Diagnostic
from codegen.loader import LoadedWorkflow

Family = Callable[[Sequence[LoadedWorkflow]], Iterable[Diagnostic]]

FAMILIES: tuple[Family, ...] = (
    names.check,
    structure.check,
    reach.check,
    closures.check,
    encoding.check,
    keys.check,
    signatures.check,
    decisions.check,
)


def check(workflows: Sequence[LoadedWorkflow]) -> list[Diagnostic]:
    """Every diagnostic of `workflows`, each once, in file/line/column order."""
    found: dict[Diagnostic, None] = {}
    for family in FAMILIES:
        for diagnostic in family(workflows):
            found.setdefault(diagnostic)
    return sorted(found, key=lambda d: d.sort_key)
