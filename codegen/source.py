"""Where DSL values came from in the user's file: `ast` lookups by recorded location.

`ast` parses a 1,000-step chain in milliseconds (libcst needs seconds), so every lookup here
uses it; each file is parsed once.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

from dsl.errors import Location


@functools.lru_cache(maxsize=256)
def _parse(file: str) -> tuple[ast.Module, tuple[str, ...]] | None:
    try:
        text = Path(file).read_text(encoding="utf-8")
        return ast.parse(text, filename=file), tuple(text.splitlines(keepends=True))
    except (OSError, SyntaxError, ValueError):
        return None


@functools.lru_cache(maxsize=256)
def _calls(file: str) -> dict[tuple[int, int], ast.Call]:
    parsed = _parse(file)
    if parsed is None:
        return {}
    return {(n.lineno, n.col_offset): n for n in ast.walk(parsed[0]) if isinstance(n, ast.Call)}


def call_at(location: Location) -> ast.Call | None:
    """The call expression a DSL constructor recorded as its location."""
    return _calls(location.file).get((location.line, location.column))


def argument(call: ast.Call, keyword: str, position: int | None = None) -> ast.expr | None:
    """The expression passed as `keyword=`, or as positional argument `position` (0-based)."""
    for kw in call.keywords:
        if kw.arg == keyword:
            return kw.value
    if position is not None and position < len(call.args):
        return call.args[position]
    return None


def location_of(node: ast.expr | ast.stmt, file: str) -> Location:
    end_line = node.end_lineno or node.lineno
    end_col = node.end_col_offset if node.end_col_offset is not None else node.col_offset + 1
    return Location(file, node.lineno, node.col_offset, end_line, end_col)


def argument_location(location: Location, keyword: str, position: int | None = None) -> Location:
    """The location of one argument of a DSL call, or of the call itself when not found."""
    call = call_at(location)
    arg = argument(call, keyword, position) if call is not None else None
    return location_of(arg, location.file) if arg is not None else location


def segment(file: str, node: ast.expr) -> str:
    """The exact source text of an expression."""
    parsed = _parse(file)
    if parsed is None:
        return ""
    text = "".join(parsed[1])
    return ast.get_source_segment(text, node) or ""


def module_ast(file: str) -> ast.Module | None:
    parsed = _parse(file)
    return parsed[0] if parsed else None
