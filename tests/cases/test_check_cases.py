"""`daggerc check` on each `tests/cases/check_*/input.py`, its printed output pinned as text.

Add a case by adding a folder with an `input.py`; pin or update the outputs with
`.venv/bin/pytest --snapshot-update tests/cases`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from codegen.cli import main

CASES = Path(__file__).parent
ROOT = CASES.parent.parent
NAMES = sorted(p.parent.name for p in CASES.glob("check_*/input.py"))


class CheckOutput(SingleFileSnapshotExtension):
    """One text file per case: `tests/cases/__snapshots__/test_check_cases/<test>[<case>].txt`."""

    _write_mode = WriteMode.TEXT
    file_extension = "txt"


@pytest.fixture
def isolated_import(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every case file is the loose module `input`: import each one afresh, from the repo root."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(sys, "path", list(sys.path))
    sys.modules.pop("input", None)
    yield
    sys.modules.pop("input", None)


def daggerc_check(path: str, capsys: pytest.CaptureFixture[str]) -> str:
    """What a user sees running `daggerc check path` from the repo root, with the exit code."""
    code = main(["check", path])
    out, err = capsys.readouterr()
    parts = [f"$ daggerc check {path}"]
    parts += [f"[stderr]\n{err.rstrip()}"] if err else []
    parts += [f"[stdout]\n{out.rstrip()}"] if out else []
    return "\n".join([*parts, f"[exit {code}]", ""])


@pytest.mark.usefixtures("isolated_import")
@pytest.mark.parametrize("case", NAMES)
def test_check_case(
    case: str, capsys: pytest.CaptureFixture[str], snapshot: SnapshotAssertion
) -> None:
    printed = daggerc_check(f"tests/cases/{case}/input.py", capsys)
    assert printed == snapshot(extension_class=CheckOutput)
