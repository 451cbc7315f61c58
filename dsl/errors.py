"""Construction-time errors and source locations of DSL values."""

from __future__ import annotations

import sys
from pathlib import Path
from types import CodeType, FrameType

from attrs import frozen

_DSL_DIR = str(Path(__file__).resolve().parent)


@frozen(order=True)
class Location:
    """Where a DSL value was written: 1-based line, 0-based column (as `ast` counts)."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column + 1}"


UNKNOWN = Location("<unknown>", 0, 0, 0, 0)


def _user_frame() -> FrameType | None:
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_DSL_DIR):
        frame = frame.f_back  # type: ignore[assignment]
    return frame


_Positions = tuple[tuple[int | None, int | None, int | None, int | None], ...]
_last: tuple[CodeType | None, _Positions] = (None, ())


def _positions(code: CodeType) -> _Positions:
    """Source positions of every instruction, computed once per code object: a module-level
    chain of a thousand DSL calls asks the same code object a thousand times. Compared by
    identity, since hashing a large module's code object costs as much as the lookup saves."""
    global _last  # noqa: PLW0603 - a one-entry cache of the code object being evaluated
    cached_code, cached = _last
    if cached_code is not code:
        cached = tuple(code.co_positions())
        _last = (code, cached)
    return cached


def here() -> Location:
    """The location of the DSL call being evaluated in the user's file (the whole call expression)."""
    frame = _user_frame()
    if frame is None:
        return UNKNOWN
    code = frame.f_code
    positions = _positions(code)
    index = frame.f_lasti // 2
    line, end_line, col, end_col = positions[index] if index < len(positions) else (None,) * 4
    return Location(
        file=code.co_filename,
        line=line or frame.f_lineno,
        column=col or 0,
        end_line=end_line or line or frame.f_lineno,
        end_column=end_col or 0,
    )


class DslError(ValueError):
    """A DSL value was built with an invalid argument. `location` is the user's call."""

    def __init__(self, message: str, location: Location, code: str = "DGR001") -> None:
        super().__init__(message)
        self.message = message
        self.location = location
        self.code = code

    def __str__(self) -> str:
        return f"{self.location}: {self.code} {self.message}"


def describe(value: object) -> str:
    """`'3' that is a <str>`, the received-value shape of every construction error."""
    return f"{value!r} that is a <{type(value).__name__}>"
