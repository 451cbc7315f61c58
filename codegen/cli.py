"""`daggerc`: one entry point; each subcommand lives in its own module.

Exit codes: 0 ok, 1 diagnostics or a failed operation, 2 usage. A subcommand module provides
`HELP`, `add_arguments(parser)` and `run(args) -> int`, and imports heavy dependencies (libcst,
jinja2, mypy) inside `run`, so a worker installed without the compiler can still use the CLI.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

# subcommand -> module; runtime commands live in the runtime package (no compiler imports)
SUBCOMMANDS: dict[str, str] = {
    "check": "codegen.commands.check",
    "build": "codegen.commands.build",
    "graph": "codegen.commands.graph",
    "worker": "runtime.cli.worker",
    "start": "runtime.cli.start",
    "status": "runtime.cli.status",
    "list": "runtime.cli.listing",
    "cancel": "runtime.cli.cancel",
    "send": "runtime.cli.send",
    "dead-letters": "runtime.cli.dead_letters",
    "serve": "runtime.cli.serve",
}


class _Parser(argparse.ArgumentParser):
    """Usage errors are one line and exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"daggerc: {message} (see 'daggerc {self._sub_name()}--help')\n")
        raise SystemExit(2)

    def _sub_name(self) -> str:
        parts = self.prog.split()
        return f"{parts[1]} " if len(parts) > 1 else ""


def _available() -> dict[str, ModuleType]:
    found: dict[str, ModuleType] = {}
    for name, module in SUBCOMMANDS.items():
        try:
            found[name] = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if not (exc.name and module.startswith(exc.name)):
                raise  # a real missing dependency inside the module is a bug to show
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="daggerc", description="Check, compile and run dagger workflows.")
    subs = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subs.required = True
    for name, module in _available().items():
        sub = subs.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args._run(args)
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    raise SystemExit(main())
