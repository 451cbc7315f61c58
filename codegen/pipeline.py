"""The compiler's stages end to end: load -> check -> lower -> render -> parse -> mypy -> write.

Every stage collects all the diagnostics it can before the pipeline stops; nothing is written
unless everything passed, and then each file is written atomically (temp file + os.replace).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import os
import re
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from attrs import frozen

from codegen.codecs import snake
from codegen.diagnostics import Diagnostic, Severity
from codegen.ir import WorkflowIR
from codegen.loader import LoadedWorkflow, load, module_name_for, resolve
from codegen.lower import lower
from codegen.lower_values import relative_file
from codegen.render import (
    GENERATED_MARK,
    FormatError,
    format_source,
    render_module,
    render_package,
    ruff_binary,
)
from codegen.typecheck import ModuleToCheck, typecheck

BUG_CODE = "DGR399"
DEFAULT_OUT = Path("generated")

Progress = Callable[[str], None]


@frozen
class GeneratedModule:
    name: str  # "orders": the file is `<out>/orders.py`
    text: str
    ir: WorkflowIR | None = None  # None for the package's __init__

    @property
    def filename(self) -> str:
        return f"{self.name}.py"


@frozen
class CompileResult:
    modules: tuple[GeneratedModule, ...]
    diagnostics: tuple[Diagnostic, ...]
    written: tuple[Path, ...] = ()
    removed: tuple[Path, ...] = ()

    @property
    def ok(self) -> bool:
        return not _failed(self.diagnostics)


def _quiet(_: str) -> None:
    pass


def compile_paths(
    paths: Sequence[str | Path],
    out: Path | None,
    typecheck: bool,
    progress: Progress = _quiet,
) -> CompileResult:
    """Compile the DSL files, folders or packages named by `paths` into `out` (None: write
    nothing, return the modules). Type-check the output with mypy --strict when asked."""
    started = time.perf_counter()
    targets = [str(p) for p in paths]
    loaded = load(targets)
    if loaded.diagnostics:
        return CompileResult((), loaded.diagnostics)
    progress(f"loaded {_count(loaded.workflows, 'workflow')} ({_since(started)})")
    warnings = _check(loaded.workflows)
    if _failed(warnings):
        return CompileResult((), warnings)
    destination = out if out is not None else DEFAULT_OUT
    modules, found = generate(
        loaded.workflows, destination, targets, typecheck, progress=progress, started=started
    )
    if found:
        return CompileResult(modules, (*warnings, *found))
    if out is None:
        return CompileResult(modules, warnings)
    changed = _changed(out, modules, loaded.workflows)
    written, removed = _write(out, modules, _stale(out, modules, targets))
    return CompileResult(modules, (*warnings, *changed), written, removed)


def generate(
    workflows: Sequence[LoadedWorkflow],
    destination: Path,
    targets: Sequence[str],
    typecheck: bool,
    *,
    progress: Progress = _quiet,
    started: float | None = None,
) -> tuple[tuple[GeneratedModule, ...], tuple[Diagnostic, ...]]:
    """The modules of checked `workflows` (the package's `__init__` last) and the diagnostics of
    lowering, rendering and, when asked, mypy --strict on them; nothing written."""
    began = time.perf_counter() if started is None else started
    modules, diagnostics = _lower_and_render(workflows, destination)
    if diagnostics:
        return (), diagnostics
    modules = (*modules, _package(destination, modules, targets))
    progress(f"rendered {_count(modules[:-1], 'module')} ({_since(began)})")
    if typecheck:
        progress(f"type-checking with mypy --strict ({_since(began)})")
        found = _typecheck(modules, destination, workflows)
        if found:
            return modules, tuple(found)
        progress(f"type-checked ({_since(began)})")
    return modules, ()


def lower_one(path: str, variable: str) -> tuple[WorkflowIR | None, tuple[Diagnostic, ...]]:
    """The IR of one workflow, `variable` in the DSL file, folder or package `path`."""
    loaded = load([path])
    if loaded.diagnostics:
        return None, loaded.diagnostics
    checked = _check(loaded.workflows)
    if _failed(checked):
        return None, checked
    names = module_names(loaded.workflows)
    for wf, name in zip(loaded.workflows, names, strict=True):
        if wf.variable == variable:
            lowered = lower(wf, name, sorted({w.module.split(".")[0] for w in loaded.workflows}))
            return lowered.ir, (*checked, *lowered.diagnostics)
    found = ", ".join(sorted(w.variable for w in loaded.workflows)) or "none"
    message = f"no workflow named {variable!r} in {path} (found: {found})"
    return None, (Diagnostic("DGR000", message, None),)


def _count(items: Sequence[object], noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


def _since(started: float) -> str:
    return f"{time.perf_counter() - started:.2f} s"


def _check(workflows: Sequence[LoadedWorkflow]) -> tuple[Diagnostic, ...]:
    """The semantic checker's diagnostics (errors and warnings), when `codegen.check` exists."""
    if importlib.util.find_spec("codegen.check") is None:
        return ()
    checker = importlib.import_module("codegen.check")
    return tuple(checker.check(workflows))


def _failed(diagnostics: Iterable[Diagnostic]) -> bool:
    return any(d.severity is Severity.ERROR for d in diagnostics)


def module_names(workflows: Sequence[LoadedWorkflow]) -> list[str]:
    """One output module per workflow: named after its DSL module (`orders`), or after the
    module and the workflow when the module defines several; distinct in every case."""
    per_module = Counter(w.module for w in workflows)
    stems = Counter(w.module.rsplit(".", 1)[-1] for w in workflows)
    names = []
    for wf in workflows:
        stem = wf.module.rsplit(".", 1)[-1]
        base = snake(stem) if stems[stem] == per_module[wf.module] else snake(wf.module)
        names.append(base if per_module[wf.module] == 1 else f"{base}_{snake(wf.variable)}")
    return names


def _lower_and_render(
    workflows: Sequence[LoadedWorkflow], destination: Path
) -> tuple[tuple[GeneratedModule, ...], tuple[Diagnostic, ...]]:
    first_party = sorted({w.module.split(".")[0] for w in workflows})
    modules: list[GeneratedModule] = []
    diagnostics: list[Diagnostic] = []
    for wf, name in zip(workflows, module_names(workflows), strict=True):
        lowered = lower(wf, name, first_party)
        diagnostics.extend(lowered.diagnostics)
        if lowered.ir is None or diagnostics:
            continue
        try:
            text = _finish(render_module(lowered.ir), destination / f"{name}.py")
        except (SyntaxError, FormatError) as exc:
            diagnostics.append(_bug(f"the module generated for {wf.variable} is not valid: {exc}"))
            continue
        modules.append(GeneratedModule(name, text, lowered.ir))
    return tuple(modules), tuple(diagnostics)


def _finish(text: str, destination: Path) -> str:
    """Parse and format the rendered source; a syntax error here is a compiler bug. ruff parses
    what it formats (in a tenth of the time `ast` needs on a 5,000-task module)."""
    if ruff_binary() is None:
        ast.parse(text)
    return format_source(text, destination)


def _bug(message: str) -> Diagnostic:
    return Diagnostic(BUG_CODE, f"compiler bug: {message}", None, hint="please report it")


def _package(
    destination: Path, modules: Sequence[GeneratedModule], targets: Sequence[str]
) -> GeneratedModule:
    """The package `__init__`: this build's modules plus the generated ones already there."""
    names = {m.name for m in modules}
    stale = {p.stem for p in _stale(destination, modules, targets)}
    names.update(p.stem for p in _generated_files(destination) if p.stem not in stale)
    names.discard("__init__")
    text = render_package(sorted(names))
    return GeneratedModule("__init__", format_source(text, destination / "__init__.py"))


def _generated_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return [p for p in sorted(folder.glob("*.py")) if _header(p).startswith(GENERATED_MARK)]


def _header(path: Path) -> str:
    try:
        with path.open(encoding="utf-8") as f:
            return f.readline()
    except (OSError, UnicodeDecodeError):
        return ""


def _stale(out: Path, modules: Sequence[GeneratedModule], targets: Sequence[str]) -> list[Path]:
    """Generated files in `out` compiled from the DSL files of this build but no longer produced."""
    compiled = {relative_file(str(f)) for t in targets for f in (resolve(t) or [])}
    produced = {m.filename for m in modules}
    stale = []
    for path in _generated_files(out):
        source = _header(path).split(" from ", 1)[-1].split(":", 1)[0]
        if path.name not in produced and path.name != "__init__.py" and source in compiled:
            stale.append(path)
    return stale


_VERSION = re.compile(r'^    version="([0-9a-f]+)",$', re.MULTILINE)


def _changed(
    out: Path, modules: Sequence[GeneratedModule], workflows: Sequence[LoadedWorkflow]
) -> list[Diagnostic]:
    """A warning for each workflow whose module in `out` has another version hash than this
    build's: the runs it recorded cannot be continued by the new module."""
    found = []
    for module in modules:
        ir = module.ir
        if ir is None:
            continue
        path = out / module.filename
        if not _header(path).startswith(GENERATED_MARK):
            continue
        try:
            old = _VERSION.search(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            continue
        if old is None or old.group(1) == ir.version:
            continue
        where = next((w.workflow.location for w in workflows if w.workflow.name == ir.name), None)
        found.append(
            Diagnostic(
                "DGR321",
                f"this build changes workflow {ir.name!r} (version {old.group(1)} -> {ir.version}):"
                f" runs recorded by {old.group(1)} cannot be continued by it, and their messages"
                " will go to dead-letter topics",
                where,
                hint=f"finish or cancel them before deploying (daggerc list --workflow {ir.name}"
                " --status EXECUTING)",
                severity=Severity.WARNING,
            )
        )
    return found


def _typecheck(
    modules: Sequence[GeneratedModule], destination: Path, workflows: Sequence[LoadedWorkflow]
) -> list[Diagnostic]:
    roots = [module_name_for(Path(w.file))[1] for w in workflows]
    cache = Path.cwd() / ".mypy_cache" / "daggerc"
    checked = [ModuleToCheck(m.name, m.text, m.ir) for m in modules]
    return typecheck(checked, destination.name or "generated", [*roots, *_runtime_roots()], cache)


def _runtime_roots() -> list[Path]:
    """Where `dsl` and `runtime` import from, unless that is site-packages (mypy finds those)."""
    roots = []
    for name in ("dsl", "runtime"):
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            continue
        root = Path(spec.origin).parent.parent
        if not {"site-packages", "dist-packages"} & set(root.parts):
            roots.append(root)
    return roots


def _write(
    out: Path, modules: Iterable[GeneratedModule], stale: Sequence[Path]
) -> tuple[tuple[Path, ...], tuple[Path, ...]]:
    """Write every module to a temp file beside its target, then move them all into place."""
    out.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[Path, Path]] = []
    try:
        for module in modules:
            target = out / module.filename
            if target.exists() and target.read_text(encoding="utf-8") == module.text:
                continue
            fd, name = tempfile.mkstemp(prefix=f".{module.name}.", suffix=".tmp", dir=out)
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
                f.write(module.text)
            os.chmod(name, 0o644)  # mkstemp creates 0600; generated files are ordinary sources
            staged.append((Path(name), target))
    except BaseException:
        for temp, _ in staged:
            temp.unlink(missing_ok=True)
        raise
    for temp, target in staged:
        os.replace(temp, target)
    for old in stale:
        old.unlink(missing_ok=True)
    return tuple(target for _, target in staged), tuple(stale)
