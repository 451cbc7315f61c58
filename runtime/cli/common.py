"""What the runtime subcommands share: backend and app options, loading compiled workflows,
one-line errors, tables and JSON output.

Exit codes: 0 ok, 1 the operation failed (unknown run, backend down), 2 usage (bad arguments,
an app or workflow that cannot be found, a value the decoder rejects).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import os
import pkgutil
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import UTC, datetime
from types import ModuleType
from typing import TYPE_CHECKING, Any

import orjson

from runtime.types import CompiledWorkflow, TopicSpec

if TYPE_CHECKING:
    from runtime.engine import Engine

DEFAULT_URL = "sqlite:///dagger.db"
DEFAULT_APP = "generated"

USAGE = 2
FAILED = 1


class CliError(Exception):
    """A one-line error for the user; `code` is the exit status."""

    def __init__(self, message: str, code: int = FAILED) -> None:
        super().__init__(message)
        self.code = code


# ------------------------------------------------------------------ options


def add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--broker",
        default=DEFAULT_URL,
        metavar="URL",
        help=f"memory://, sqlite:///path.db or kafka://host:port (default {DEFAULT_URL})",
    )
    parser.add_argument(
        "--store",
        default=None,
        metavar="URL",
        help="store URL when the broker holds no state, e.g. aerospike://host:3000/ns "
        "(default: the broker URL)",
    )


def add_app_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--app",
        default=DEFAULT_APP,
        metavar="PACKAGE",
        help=f"package of compiled workflows (default {DEFAULT_APP})",
    )


def add_json_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")


# ------------------------------------------------------------------ apps


def _modules(root: ModuleType) -> Iterator[ModuleType]:
    yield root
    for info in pkgutil.walk_packages(getattr(root, "__path__", []), root.__name__ + "."):
        yield importlib.import_module(info.name)


def load_app(target: str) -> list[CompiledWorkflow[Any]]:
    """Every module-level CompiledWorkflow in the module or package `target`, by name. The
    current directory is searched first, as `python -m` would (a console script's is not)."""
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        modules = list(_modules(importlib.import_module(target)))
    except ImportError as exc:
        raise CliError(f"cannot import the app {target!r}: {exc}", USAGE) from exc
    found: dict[str, CompiledWorkflow[Any]] = {}
    for module in modules:
        for value in vars(module).values():
            if isinstance(value, CompiledWorkflow):
                found.setdefault(value.name, value)
    if not found:
        raise CliError(
            f"the app {target!r} holds no compiled workflow (build one: daggerc build examples/)",
            USAGE,
        )
    return [found[name] for name in sorted(found)]


def find_workflow(spec: str) -> tuple[CompiledWorkflow[Any], list[CompiledWorkflow[Any]]]:
    """`PACKAGE:Workflow` -> that workflow and every workflow of the package."""
    package, sep, name = spec.partition(":")
    if not sep or not package or not name:
        raise CliError(
            f"expected PACKAGE:Workflow, e.g. generated:OrderWorkflow (got {spec!r})", USAGE
        )
    workflows = load_app(package)
    for wf in workflows:
        if wf.name == name:
            return wf, workflows
    known = ", ".join(wf.name for wf in workflows)
    raise CliError(f"{package} has no workflow {name!r} (it has: {known})", USAGE)


def find_topic(workflows: Sequence[CompiledWorkflow[Any]], name: str) -> TopicSpec[Any]:
    topics: dict[str, TopicSpec[Any]] = {}
    for wf in workflows:
        for spec in wf.topics:
            topics.setdefault(spec.name, spec)
    if name not in topics:
        known = ", ".join(sorted(topics)) or "none"
        raise CliError(f"no workflow of the app uses topic {name!r} (topics: {known})", USAGE)
    return topics[name]


def parse_json(text: str, what: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise CliError(f"{what} is not JSON: {exc}", USAGE) from exc


# ------------------------------------------------------------------ running


def run_with_engine(
    command: str,
    args: argparse.Namespace,
    workflows: Sequence[CompiledWorkflow[Any]],
    body: Callable[[Engine], Awaitable[int]],
) -> int:
    """Open an Engine on the chosen backends, run `body`, and turn known errors into one line."""
    from runtime.engine import Engine  # noqa: PLC0415 (keeps `daggerc --help` light)
    from runtime.engine_api import EngineError  # noqa: PLC0415 (as above)
    from runtime.types import BackendError  # noqa: PLC0415 (as above)
    from runtime.urls import UrlError  # noqa: PLC0415 (as above)

    async def main() -> int:
        async with Engine(args.broker, args.store, workflows, handle_signals=False) as engine:
            return await body(engine)

    # A command that fails says why in one line; aiokafka's own log of a refused connection
    # would print a second one first (there is no log configuration in a one-shot command).
    quiet = logging.getLogger("aiokafka")
    quiet.propagate = False
    quiet.addHandler(logging.NullHandler())
    try:
        return asyncio.run(main())
    except CliError as exc:
        return error(command, str(exc), exc.code)
    except UrlError as exc:
        return error(command, str(exc), USAGE)
    except (EngineError, BackendError, OSError) as exc:
        return error(command, str(exc), FAILED)


def error(command: str, message: str, code: int = FAILED) -> int:
    sys.stderr.write(f"daggerc {command}: {message}\n")
    return code


def guarded(command: str, fn: Callable[[], int]) -> int:
    try:
        return fn()
    except CliError as exc:
        return error(command, str(exc), exc.code)


# ------------------------------------------------------------------ output


def when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def print_json(value: object) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


async def opened(
    make: Callable[[], Engine], wait: float | None, log: logging.Logger
) -> Engine | None:
    """An opened engine. While a backend does not answer (`Unavailable`: Kafka or Aerospike not
    up yet, or away), try again after a pause (1 s doubling to 30 s) for up to `wait` seconds
    (None: no limit); None when SIGTERM or SIGINT comes first. A backend that answers and
    refuses (a wrong password, an unknown namespace) fails at once."""
    from runtime.engine_idle import signal_handlers  # noqa: PLC0415 (light --help)
    from runtime.types import Unavailable  # noqa: PLC0415 (as above)

    loop = asyncio.get_running_loop()
    deadline = None if wait is None else loop.time() + wait
    stop = asyncio.Event()
    pause = 1.0
    with signal_handlers(stop.set, wanted=True):
        while True:
            engine = make()
            try:
                await engine.open()
                return engine
            except Unavailable as exc:
                left = None if deadline is None else deadline - loop.time()
                if left is not None and left <= 0:
                    raise
                pause = min(pause, left) if left is not None else pause
                log.warning("%s; trying again in %.0f s", exc, pause)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), pause)
                if stop.is_set():
                    return None
                pause = min(2 * pause, 30.0)


def add_wait_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wait",
        type=float,
        default=None,
        metavar="S",
        help="seconds to wait at start for a broker or store that does not answer yet"
        " (default: until it does, or until SIGTERM; 0: fail at once)",
    )
