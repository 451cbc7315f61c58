"""Stage 1, load: import DSL files or packages and collect their module-level workflows."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType

from attrs import frozen

from codegen.diagnostics import Diagnostic
from dsl.errors import DslError, Location
from dsl.model import Workflow


@frozen
class LoadedWorkflow:
    """A workflow found in a DSL module: `variable` is its module-level name."""

    variable: str
    module: str  # importable name, e.g. "examples.orders"
    file: str  # absolute path of the DSL file
    workflow: Workflow[object]
    namespace: ModuleType


@frozen
class LoadResult:
    workflows: tuple[LoadedWorkflow, ...]
    diagnostics: tuple[Diagnostic, ...]


def module_name_for(file: Path) -> tuple[str, Path]:
    """The importable name of a file and the folder to put on sys.path for it.

    A file inside packages (folders with __init__.py) is named from the outermost package,
    as `python -m` would; a loose file is named by its stem, its folder importable.
    """
    parts = [file.stem] if file.name != "__init__.py" else []
    folder = file.parent
    while (folder / "__init__.py").exists():
        parts.insert(0, folder.name)
        folder = folder.parent
    return ".".join(parts), folder


def _files(path: Path) -> Iterator[Path]:
    if path.is_dir():
        for child in sorted(path.rglob("*.py")):
            if "__pycache__" not in child.parts and not child.name.startswith("_"):
                yield child
    else:
        yield path


def _failure_location(exc: BaseException, file: Path) -> Location:
    if isinstance(exc, DslError):
        return exc.location
    if isinstance(exc, SyntaxError) and exc.lineno is not None:
        col = max((exc.offset or 1) - 1, 0)
        return Location(str(exc.filename or file), exc.lineno, col, exc.lineno, col + 1)
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == str(file)]
    if frames:
        last = frames[-1]
        line = last.lineno or 1
        col = last.colno or 0
        return Location(str(file), line, col, last.end_lineno or line, last.end_colno or col + 1)
    return Location(str(file), 1, 0, 1, 1)


def _import(file: Path) -> ModuleType | Diagnostic:
    name, root = module_name_for(file)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        loaded = sys.modules.get(name)
        if loaded is not None and getattr(loaded, "__file__", None) == str(file):
            return loaded
        if loaded is not None:  # another file of the same name was loaded before: load this one
            del sys.modules[name]
            sys.path.remove(str(root))
            sys.path.insert(0, str(root))
            importlib.invalidate_caches()
        return importlib.import_module(name)
    except DslError as exc:
        return Diagnostic(exc.code, exc.message, exc.location)
    except Exception as exc:  # a DSL file that raises on import is a diagnostic, not a traceback
        message = f"importing {name} raised {type(exc).__name__}: {exc}"
        return Diagnostic(
            "DGR001",
            message,
            _failure_location(exc, file),
            hint="fix the error above; daggerc imports DSL files as Python modules",
        )


def _workflows_of(module: ModuleType, file: Path) -> Iterator[LoadedWorkflow]:
    for variable, value in vars(module).items():
        if isinstance(value, Workflow) and Path(value.location.file) == file:
            yield LoadedWorkflow(variable, module.__name__, str(file), value, module)


def resolve(target: str) -> list[Path] | None:
    """A path (file or folder) or an importable package/module name to DSL files."""
    path = Path(target)
    if path.exists():
        return list(_files(path.resolve()))
    try:
        spec = importlib.util.find_spec(target)
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    origin = Path(spec.origin)
    return list(_files(origin.parent)) if origin.name == "__init__.py" else [origin]


def load(targets: Sequence[str]) -> LoadResult:
    """Import every DSL file named by `targets`; collect workflows and import failures."""
    workflows: list[LoadedWorkflow] = []
    diagnostics: list[Diagnostic] = []
    for target in targets:
        files = resolve(target)
        if files is None:
            diagnostics.append(
                Diagnostic("DGR000", f"no such file, folder or module: {target!r}", None)
            )
            continue
        for file in files:
            result = _import(file)
            if isinstance(result, Diagnostic):
                diagnostics.append(result)
            else:
                workflows.extend(_workflows_of(result, file))
    return LoadResult(tuple(workflows), tuple(diagnostics))
