"""`daggerc check PATH...`: every diagnostic, nothing written."""

from __future__ import annotations

import argparse
import sys

from codegen.diagnostics import render_all
from codegen.loader import load

HELP = "check DSL files, folders or packages and print every diagnostic; writes nothing"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="DSL file, folder or package")


def run(args: argparse.Namespace) -> int:
    result = load(args.paths)
    if result.diagnostics:
        sys.stderr.write(render_all(result.diagnostics) + "\n")
        return 1
    names = ", ".join(w.variable for w in result.workflows) or "no workflows"
    sys.stdout.write(f"ok: {names}\n")
    return 0
