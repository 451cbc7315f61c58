"""`daggerc build PATH... [--out DIR] [--no-typecheck]`: compile DSL files to runtime modules."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "compile DSL files, folders or packages into one Python module per workflow"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="DSL file, folder or package")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("generated"),
        metavar="DIR",
        help="output package folder (default: generated/)",
    )
    parser.add_argument(
        "--no-typecheck",
        dest="typecheck",
        action="store_false",
        help="skip mypy --strict on the generated modules",
    )


def _progress(message: str) -> None:
    sys.stderr.write(f"daggerc: {message}\n")
    sys.stderr.flush()


def run(args: argparse.Namespace) -> int:

    from codegen.diagnostics import render_all  # noqa: PLC0415
    from codegen.pipeline import compile_paths  # noqa: PLC0415

    result = compile_paths(args.paths, args.out, args.typecheck, progress=_progress)
    if result.diagnostics:
        sys.stderr.write(render_all(result.diagnostics) + "\n")
    if not result.ok:
        sys.stderr.write(f"daggerc: nothing written to {args.out}\n")
        return 1
    for path in result.written:
        _progress(f"wrote {path}")
    for path in result.removed:
        _progress(f"removed {path} (its workflow is gone)")
    unchanged = len(result.modules) - len(result.written)
    summary = f"{len(result.modules) - 1} workflow module(s) in {args.out}"
    sys.stdout.write(f"ok: {summary}" + (f", {unchanged} unchanged\n" if unchanged else "\n"))
    return 0
