"""Diagnostics are data: a stable code, a message naming the things involved, a location, a hint."""

from __future__ import annotations

import enum
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from attrs import frozen

from dsl.errors import Location


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


@frozen
class Diagnostic:
    code: str  # "DGR204"
    message: str
    location: Location | None
    hint: str | None = None
    severity: Severity = Severity.ERROR

    @property
    def sort_key(self) -> tuple[str, int, int, str]:
        loc = self.location
        return (loc.file, loc.line, loc.column, self.code) if loc else ("", 0, 0, self.code)


class CompileError(Exception):
    """Raised by a stage that cannot go on; carries every diagnostic found so far."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        super().__init__(f"{len(diagnostics)} error(s)")
        self.diagnostics = tuple(diagnostics)


def display_path(file: str, root: Path | None = None) -> str:
    """A path as the user should read it: relative to the working folder when inside it."""
    base = root or Path.cwd()
    try:
        return os.path.relpath(file, base) if Path(file).is_relative_to(base) else file
    except ValueError:
        return file


def _source_line(file: str, line: int) -> str | None:
    try:
        lines = Path(file).read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    return lines[line - 1] if 0 < line <= len(lines) else None


def render(diagnostic: Diagnostic, root: Path | None = None) -> str:
    """`path:line:col: CODE message`, then the source line with a caret, then the hint."""
    loc = diagnostic.location
    if loc is None:
        head = f"daggerc: {diagnostic.code} {diagnostic.message}"
        return head if diagnostic.hint is None else f"{head}\n  hint: {diagnostic.hint}"
    where = f"{display_path(loc.file, root)}:{loc.line}:{loc.column + 1}"
    out = [f"{where}: {diagnostic.code} {diagnostic.message}"]
    text = _source_line(loc.file, loc.line)
    if text is not None:
        gutter = f"{loc.line:>5} | "
        out.append(gutter + text)
        width = loc.end_column - loc.column if loc.end_line == loc.line else len(text) - loc.column
        out.append(" " * (len(gutter) - 2) + "| " + " " * loc.column + "^" * max(1, width))
    if diagnostic.hint:
        out.append(f"  hint: {diagnostic.hint}")
    return "\n".join(out)


def render_all(diagnostics: Iterable[Diagnostic], root: Path | None = None) -> str:
    """Every diagnostic, sorted by place, then a summary line."""
    items = sorted(diagnostics, key=lambda d: d.sort_key)
    errors = sum(1 for d in items if d.severity is Severity.ERROR)
    body = "\n".join(render(d, root) for d in items)
    summary = f"{errors} error{'s' if errors != 1 else ''}"
    warnings = len(items) - errors
    if warnings:
        summary += f", {warnings} warning{'s' if warnings != 1 else ''}"
    return f"{body}\n{summary}" if body else summary
