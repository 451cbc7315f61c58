"""`daggerc check PATH... [--no-typecheck]`: every diagnostic `build` would give, nothing written.

Loading and the semantic checks report together; when they find no error, the code `build` would
write is lowered, rendered and type-checked with mypy --strict as `build` does (the lifted
lambdas' bodies, `call` functions that cannot be imported...), in memory."""

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
    parser.add_argument(
        "--no-typecheck",
        dest="typecheck",
        action="store_false",
        help="skip mypy --strict on the code build would generate",
    )


def run(args: argparse.Namespace) -> int:
    from codegen.pipeline import DEFAULT_OUT, generate  # noqa: PLC0415 (jinja2, libcst, mypy)

    loaded = load(args.paths)
    found = [*loaded.diagnostics, *check(loaded.workflows)]
    if loaded.workflows and not any(d.severity is Severity.ERROR for d in found):
        targets = [str(p) for p in args.paths]
        found += generate(loaded.workflows, DEFAULT_OUT, targets, args.typecheck)[1]
    return report(loaded.workflows, found)


def report(workflows: Sequence[LoadedWorkflow], diagnostics: Sequence[Diagnostic]) -> int:
    """Print the diagnostics (stderr) or what was checked (stdout); 1 when any is an error."""
    if diagnostics:
        sys.stderr.write(render_all(diagnostics) + "\n")
    if any(d.severity is Severity.ERROR for d in diagnostics):
        return 1
    names = ", ".join(w.variable for w in workflows) or "no workflows"
    sys.stdout.write(f"ok: {names}\n")
    return 0
