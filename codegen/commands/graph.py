"""`daggerc graph PATH:Workflow [--format mermaid|dot|svg]`: draw a workflow."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys

HELP = "print a workflow's graph as Mermaid or Graphviz DOT text, or as SVG (needs Graphviz)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "target", metavar="PATH:Workflow", help="a DSL file, folder or package and a workflow"
    )
    parser.add_argument("--format", choices=("mermaid", "dot", "svg"), default="mermaid")


def _split(target: str) -> tuple[str, str] | None:
    path, sep, variable = target.rpartition(":")
    if not sep or not path or not variable.isidentifier():
        return None
    return path, variable


def run(args: argparse.Namespace) -> int:
    parts = _split(args.target)
    if parts is None:
        sys.stderr.write(
            f"daggerc: expected PATH:Workflow, e.g. examples/orders.py:OrderWorkflow "
            f"(got {args.target!r})\n"
        )
        return 2
    dot_binary = shutil.which("dot")
    if args.format == "svg" and dot_binary is None:
        sys.stderr.write(
            "daggerc: --format svg needs Graphviz's 'dot' on PATH (e.g. apt install graphviz); "
            "--format dot prints the same graph as text\n"
        )
        return 1
    text = _graph(*parts, args.format)
    if text is None:
        return 1
    if args.format != "svg":
        sys.stdout.write(text)
        return 0
    assert dot_binary is not None
    done = subprocess.run(
        [dot_binary, "-Tsvg"], input=text.encode(), capture_output=True, check=False
    )
    if done.returncode != 0:
        sys.stderr.write(f"daggerc: dot -Tsvg failed: {done.stderr.decode().strip()}\n")
        return 1
    sys.stdout.buffer.write(done.stdout)
    return 0


def _graph(path: str, variable: str, fmt: str) -> str | None:
    """The Mermaid (or, for dot and svg, DOT) text of the workflow; None after printing why not."""

    from codegen.diagnostics import render_all  # noqa: PLC0415
    from codegen.graph import dot, mermaid  # noqa: PLC0415
    from codegen.pipeline import lower_one  # noqa: PLC0415

    ir, diagnostics = lower_one(path, variable)
    if ir is None:
        sys.stderr.write(render_all(diagnostics) + "\n")
        return None
    return mermaid(ir.nodes) if fmt == "mermaid" else dot(ir.nodes)
