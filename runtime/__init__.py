"""dagger's runtime: `from runtime import Engine`.

Names are imported on first use, so `import runtime.types` (what generated modules need) stays
cheap and loads no engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runtime.engine import Engine
    from runtime.engine_api import (
        ConflictError,
        EngineError,
        NodeStatus,
        Run,
        RunPage,
        RunStatus,
        RunSummary,
        UnknownRunError,
        UnknownWorkflowError,
        UnreadableRunError,
    )
    from runtime.types import (
        BackendError,
        CompiledWorkflow,
        DecodeError,
        EncodeError,
        MessageRefused,
        RecordRefused,
        SendFailed,
        Status,
        TopicSpec,
        Unavailable,
    )
    from runtime.urls import UrlError

__all__ = [
    "BackendError",
    "CompiledWorkflow",
    "ConflictError",
    "DecodeError",
    "EncodeError",
    "Engine",
    "EngineError",
    "MessageRefused",
    "NodeStatus",
    "RecordRefused",
    "Run",
    "RunPage",
    "RunStatus",
    "RunSummary",
    "SendFailed",
    "Status",
    "TopicSpec",
    "Unavailable",
    "UnknownRunError",
    "UnknownWorkflowError",
    "UnreadableRunError",
    "UrlError",
]

_HOMES = {
    "Engine": "runtime.engine",
    "CompiledWorkflow": "runtime.types",
    "BackendError": "runtime.types",
    "DecodeError": "runtime.types",
    "EncodeError": "runtime.types",
    "MessageRefused": "runtime.types",
    "RecordRefused": "runtime.types",
    "SendFailed": "runtime.types",
    "Status": "runtime.types",
    "TopicSpec": "runtime.types",
    "Unavailable": "runtime.types",
    "UrlError": "runtime.urls",
}


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'runtime' has no attribute {name!r}")
    module = importlib.import_module(_HOMES.get(name, "runtime.engine_api"))
    return getattr(module, name)
