"""`daggerc check PATH...`: every diagnostic, nothing written."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from codegen.check import check
from codegen.diagnostics import Diagnostic, Severity, render_all
from codegen.loader import LoadedWorkflow, load

HELP = "check DSL files, folders or packages and print every diagnostic; writes nothing"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="DSL file, folder or package")


def run(args: argparse.Namespace) -> int:
    loaded = load(args.paths)
    return report(loaded.workflows, [*loaded.diagnostics, *check(loaded.workflows)])


def report(workflows: Sequence[LoadedWorkflow], diagnostics: Sequence[Diagnostic]) -> int:
    """Print the diagnostics (stderr) or what was checked (stdout); 1 when any is an error."""
    if diagnostics:
        sys.stderr.write(render_all(diagnostics) + "\n")
    if any(d.severity is Severity.ERROR for d in diagnostics):
        return 1
    names = ", ".join(w.variable for w in workflows) or "no workflows"
    sys.stdout.write(f"ok: {names}\n")
    return 0
