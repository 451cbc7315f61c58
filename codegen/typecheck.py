"""Stage 6, type-check: mypy --strict on the generated modules, errors mapped back to the DSL.

The modules are written to a temporary package and checked in process (`mypy.api.run`) with the
DSL modules importable, so every lifted lambda and wrapper is checked against the state, message
and key types. An error inside a lifted function becomes a `DGR3nn` diagnostic at the user's
lambda (to the expression, by walking the generated and the written expression side by side) or
at the argument that passed their function. An error anywhere else is a compiler bug.
"""

from __future__ import annotations

import ast
import re
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from attrs import frozen

from codegen import source
from codegen.diagnostics import Diagnostic
from codegen.ir import Function, WorkflowIR
from dsl.errors import Location

BUG_CODE = "DGR399"
_LINE = re.compile(
    r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+)(?::\d+:\d+)?: (?P<severity>error|note): "
    r"(?P<message>.*?)(?:  \[(?P<code>[a-z0-9-]+)\])?$"
)


@frozen
class ModuleToCheck:
    name: str  # module name inside the package, e.g. "orders"
    text: str
    ir: WorkflowIR | None  # None for modules without lifted functions (the package __init__)


@frozen
class _Message:
    file: str
    line: int
    column: int  # 0-based
    severity: str
    text: str


def typecheck(
    modules: Sequence[ModuleToCheck], package: str, search_path: Iterable[Path], cache_dir: Path
) -> list[Diagnostic]:
    """mypy --strict over `modules` (as package `package`); every error as a located diagnostic."""
    from mypy import api  # noqa: PLC0415 - heavy and optional: only a type-checking build needs it

    with tempfile.TemporaryDirectory(prefix="daggerc-") as tmp:
        folder = Path(tmp) / package
        folder.mkdir()
        files: dict[str, ModuleToCheck] = {}
        paths: list[str] = []
        for module in modules:
            path = folder / f"{module.name}.py"
            path.write_text(module.text, encoding="utf-8")
            files[_where(str(path))] = module
            paths.append(str(path))
        config = Path(tmp) / "mypy.ini"
        config.write_text(_config(search_path, cache_dir), encoding="utf-8")
        stdout, stderr, status = api.run(["--config-file", str(config), *sorted(paths)])
        if status not in (0, 1) or (status == 1 and not stdout.strip()):
            said = "\n".join(t.strip() for t in (stdout, stderr) if t.strip())
            return [Diagnostic(BUG_CODE, f"mypy failed to run: {said}", None)]
        return _diagnostics(_parse(stdout), files)


def _config(search_path: Iterable[Path], cache_dir: Path) -> str:
    roots = ":".join(dict.fromkeys(str(p) for p in search_path))
    return "\n".join(
        [
            "[mypy]",
            "strict = True",
            "follow_imports = silent",
            "show_column_numbers = True",
            "show_error_end = True",
            "error_summary = False",
            "color_output = False",
            "pretty = False",
            f"mypy_path = {roots}",
            f"cache_dir = {cache_dir}",
            "",
        ]
    )


def _parse(stdout: str) -> list[_Message]:
    out: list[_Message] = []
    for raw in stdout.splitlines():
        match = _LINE.match(raw)
        if match is None:
            continue
        out.append(
            _Message(
                match["file"],
                int(match["line"]),
                int(match["col"]) - 1,
                match["severity"],
                match["message"],
            )
        )
    return out


def _diagnostics(messages: list[_Message], files: dict[str, ModuleToCheck]) -> list[Diagnostic]:
    """Errors as diagnostics; each note joins the hint of the error before it."""
    out: list[Diagnostic] = []
    spans = {path: _function_spans(module) for path, module in files.items()}
    for message in messages:
        if message.severity == "note":
            if out:
                previous = out[-1]
                hint = f"{previous.hint}; {message.text}" if previous.hint else message.text
                out[-1] = Diagnostic(previous.code, previous.message, previous.location, hint)
            continue
        module = files.get(_where(message.file))
        found = _enclosing(spans.get(_where(message.file), []), message.line)
        if module is None or found is None:
            out.append(_bug(message, module))
        else:
            out.append(_user_error(message, found, module.text))
    return out


def _where(path: str) -> str:
    """`<package>/<module>.py` of a checked file. mypy names a module it found unchanged in its
    cache by the path it had then: another temporary folder, for an unchanged module with errors."""
    return "/".join(Path(path).parts[-2:])


@frozen
class _Span:
    function: Function
    node: ast.FunctionDef | ast.AsyncFunctionDef
    first: int  # including the comment above the def
    last: int


def _function_spans(module: ModuleToCheck) -> list[_Span]:
    if module.ir is None:
        return []
    lifted = {f.name: f for f in module.ir.functions}
    lifted.update((t.key_function.name, t.key_function) for t in module.ir.topics)
    out = []
    for node in ast.parse(module.text).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in lifted:
            out.append(_Span(lifted[node.name], node, node.lineno, node.end_lineno or node.lineno))
    return out


def _enclosing(spans: list[_Span], line: int) -> _Span | None:
    for span in spans:
        if span.first <= line <= span.last:
            return span
    return None


def _bug(message: _Message, module: ModuleToCheck | None) -> Diagnostic:
    where = f"{module.name}.py:{message.line}" if module else f"{message.file}:{message.line}"
    return Diagnostic(
        BUG_CODE,
        f"compiler bug: mypy rejects generated code at {where}: {message.text}",
        None,
        hint="this is not a problem in your DSL file; please report it with that file",
    )


def _user_error(message: _Message, span: _Span, text: str) -> Diagnostic:
    origin = span.function.origin
    location = origin.location
    if origin.body is not None:
        location = _map_into_lambda(span.node, message, origin.body) or location
    return Diagnostic(origin.code, f"in {origin.what}: {message.text}", location)


def _map_into_lambda(
    node: ast.FunctionDef | ast.AsyncFunctionDef, message: _Message, body: Location
) -> Location | None:
    """The DSL location of the expression mypy points at in a lifted lambda: the generated return
    expression and the lambda body have the same shape, so the node at the same walk index is
    the same expression however the formatter laid it out."""
    statement = node.body[0] if node.body else None
    if not isinstance(statement, ast.Return) or statement.value is None:
        return None
    written = _expression_at(body)
    if written is None:
        return None
    generated_nodes = list(ast.walk(statement.value))
    written_nodes = list(ast.walk(written))
    if [type(n) for n in generated_nodes] != [type(n) for n in written_nodes]:
        return source.location_of(written, body.file)
    for index, generated in enumerate(generated_nodes):
        if not isinstance(generated, ast.expr):
            continue
        if (generated.lineno, generated.col_offset) == (message.line, message.column):
            target = written_nodes[index]
            if isinstance(target, ast.expr):
                return source.location_of(target, body.file)
    return source.location_of(written, body.file)


def _expression_at(body: Location) -> ast.expr | None:
    tree = source.module_ast(body.file)
    if tree is None:
        return None
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.expr)
            and node.lineno == body.line
            and node.col_offset == body.column
            and node.end_lineno == body.end_line
            and node.end_col_offset == body.end_column
        ):
            return node
    return None
