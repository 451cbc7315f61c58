"""The code table documents every code the compiler prints, and every check code has a case."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from codegen.codes import CODES, explain

ROOT = Path(__file__).resolve().parents[3]
PINNED = ROOT / "tests" / "cases" / "__snapshots__" / "test_check_cases"
CODE = re.compile(r"\bDGR\d{3}\b")
PRINTED = re.compile(r"^\S+:\d+:\d+: (DGR\d{3}) ", re.MULTILINE)


def _source_codes() -> set[str]:
    found: set[str] = set()
    for package in ("dsl", "codegen", "runtime"):
        for file in (ROOT / package).rglob("*.py"):
            found |= set(CODE.findall(file.read_text(encoding="utf-8")))
    return found


def test_every_code_in_the_source_is_in_the_table() -> None:
    missing = sorted(_source_codes() - set(CODES))
    assert missing == [], f"add {missing} to codegen/codes.py"


def test_every_entry_has_a_title_and_an_explanation() -> None:
    for code, entry in CODES.items():
        assert entry.code == code
        assert entry.title and entry.explanation and "\n" not in entry.explanation


def test_every_check_code_is_pinned_by_a_case() -> None:
    printed: set[str] = set()
    for pinned in PINNED.glob("*.txt"):
        printed |= set(PRINTED.findall(pinned.read_text(encoding="utf-8")))
    checks = {c for c in CODES if c.startswith(("DGR1", "DGR2"))}
    assert sorted(checks - printed) == []
    assert len(checks) >= 15


def test_every_pinned_diagnostic_has_a_hint() -> None:
    for pinned in PINNED.glob("*.txt"):
        text = pinned.read_text(encoding="utf-8")
        assert len(PRINTED.findall(text)) == text.count("\n  hint: "), pinned.name


def test_an_unknown_code_is_named() -> None:
    assert explain("DGR204").title == "correlation key type"
    with pytest.raises(KeyError, match="unknown diagnostic code 'DGR999'"):
        explain("DGR999")
