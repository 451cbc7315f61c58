"""mypy errors in generated code come back as one located diagnostic at the user's DSL code.

Each `tests/cases/typecheck_*/input.py` marks its faulty line with `# expect: CODE TEXT`: the
build must report exactly one diagnostic, with that code, at that line and at the column where
TEXT starts (the expression mypy points at, however the generated copy was laid out).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from codegen_support import (
    CASES,
    ROOT,
    build_case,
    fresh_input,  # noqa: F401 - a fixture: pytest finds it by name
)

from codegen.diagnostics import render
from codegen.typecheck import BUG_CODE, ModuleToCheck, typecheck

NAMES = sorted(p.parent.name for p in CASES.glob("typecheck_*/input.py"))
_EXPECT = re.compile(r"#\s*expect:\s*(?P<code>DGR\d{3})\s+(?P<text>.+?)\s*$")


def expectation(case: str) -> tuple[str, int, int]:
    """(code, 1-based line, 0-based column) written in the case's `# expect:` comment."""
    lines = (CASES / case / "input.py").read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        found = _EXPECT.search(line)
        if found:
            column = line.index(found["text"])
            return found["code"], number, column
    raise AssertionError(f"{case}/input.py has no '# expect:' comment")


def test_the_three_pinned_mappings_have_cases() -> None:
    assert {"typecheck_lambda_typo", "typecheck_command_message", "typecheck_listener_on"} <= set(
        NAMES
    )


@pytest.mark.usefixtures("fresh_input")
@pytest.mark.parametrize("case", NAMES)
def test_a_type_error_is_reported_once_at_the_users_code(case: str) -> None:
    code, line, column = expectation(case)
    result = build_case(case)
    assert [d.code for d in result.diagnostics] == [code], [render(d) for d in result.diagnostics]
    found = result.diagnostics[0]
    assert found.location is not None
    assert Path(found.location.file) == CASES / case / "input.py"
    assert (found.location.line, found.location.column) == (line, column)
    assert render(found, ROOT).startswith(
        f"tests/cases/{case}/input.py:{line}:{column + 1}: {code} "
    )


@pytest.mark.usefixtures("fresh_input")
def test_the_lambda_typo_names_the_attribute_and_the_state() -> None:
    result = build_case("typecheck_lambda_typo")
    assert result.diagnostics[0].message == (
        'in lambda: "Order" has no attribute "order_idx"; maybe "order_id"?'
    )


@pytest.mark.usefixtures("fresh_input")
def test_building_an_unchanged_file_again_reports_the_same_error() -> None:
    """mypy replays the errors of a module unchanged since its cache, under the path the module
    had then (another temporary folder): they are still the user's, not a compiler bug."""
    first, again = build_case("typecheck_lambda_typo"), build_case("typecheck_lambda_typo")
    assert [d.code for d in again.diagnostics] == ["DGR301"], [render(d) for d in again.diagnostics]
    assert again.diagnostics == first.diagnostics


@pytest.mark.usefixtures("fresh_input")
def test_a_failed_type_check_writes_nothing(tmp_path: Path) -> None:
    result = build_case("typecheck_lambda_typo", out=tmp_path / "out")
    assert not result.ok
    assert not (tmp_path / "out").exists()


def test_an_error_outside_lifted_functions_is_reported_as_a_compiler_bug(tmp_path: Path) -> None:
    broken = ModuleToCheck("broken", 'count: int = "three"\n', None)
    found = typecheck([broken], "pkg", [], tmp_path / "cache")
    assert [d.code for d in found] == [BUG_CODE]
    assert found[0].location is None
    assert found[0].message.startswith("compiler bug: mypy rejects generated code at broken.py:1:")
    assert "Incompatible types in assignment" in found[0].message
