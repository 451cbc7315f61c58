"""`daggerc serve` at run time: load the app, open the engine, serve HTTP next to its worker loop."""

from __future__ import annotations

import functools
import logging
import sys
from typing import Any

from attrs import frozen

from runtime.cli.common import CliError, load_app, opened
from runtime.engine import Engine
from runtime.ops import logs
from runtime.ops.hooks import Observers
from runtime.ops.http import create_app
from runtime.ops.metrics import Metrics
from runtime.ops.server import HttpServer
from runtime.ops.source import EngineSource
from runtime.ops.updates import UpdateStream
from runtime.types import BackendError, CompiledWorkflow
from runtime.urls import UrlError

_log = logging.getLogger("dagger.serve")


@frozen
class ServeOptions:
    app: str
    broker: str
    store: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    token: str | None = None
    updates_topic: str | None = None
    json_logs: bool = False
    wait: float | None = None  # for a backend that does not answer yet (None: no limit)


async def serve(options: ServeOptions) -> int:
    """Run until SIGINT/SIGTERM; 0 on a clean stop, 2 when the app cannot be loaded (as `worker`)."""
    handler = logs.configure(json_lines=options.json_logs)
    try:
        workflows = load_app(options.app)
    except CliError as exc:
        sys.stderr.write(f"daggerc serve: {exc}\n")
        logs.remove(handler)
        return exc.code
    try:
        await _serve(options, workflows)
    except UrlError as exc:
        sys.stderr.write(f"daggerc serve: {exc}\n")
        return 2
    except (BackendError, OSError) as exc:
        sys.stderr.write(f"daggerc serve: {exc}\n")
        return 1
    finally:
        logs.remove(handler)
    return 0


async def _serve(options: ServeOptions, workflows: list[CompiledWorkflow[Any]]) -> None:
    metrics = Metrics()
    observers = Observers([metrics])
    make = functools.partial(Engine, options.broker, options.store, workflows, observer=observers)
    engine = await opened(make, options.wait, _log)
    if engine is None:
        _log.info("stopped before the backends answered")
        return
    updates = UpdateStream(engine.broker if options.updates_topic else None, options.updates_topic)
    observers.add(updates)
    async with engine:
        await updates.start()
        app = create_app(
            EngineSource(engine), metrics=metrics, updates=updates, token=options.token
        )
        server = HttpServer(app, options.host, options.port)
        await server.start()
        names = ", ".join(wf.name for wf in workflows)
        _log.info("serving %s for %s", server.url, names)
        print(f"dagger: serving {server.url} ({names})", flush=True)
        try:
            await engine.run()  # returns on SIGINT/SIGTERM
        finally:
            await server.close()
            await updates.close()
