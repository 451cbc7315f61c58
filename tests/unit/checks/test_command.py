"""`daggerc check`: exit codes and what a user reads."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from codegen.cli import main

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def in_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(sys, "path", list(sys.path))


@pytest.mark.usefixtures("in_root")
def test_the_examples_check_clean(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "examples/"]) == 0
    out, err = capsys.readouterr()
    assert (out, err) == ("ok: OrderWorkflow\n", "")


@pytest.mark.usefixtures("in_root")
def test_import_failures_and_check_problems_are_reported_together(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "dgr_check_broken.py"
    broken.write_text("raise RuntimeError('not ready')\n")
    empty = tmp_path / "dgr_check_empty.py"
    empty.write_text(
        "from attrs import frozen\nfrom dsl import workflow\n\n\n@frozen\nclass S:\n    k: str\n\n\n"
        "W = workflow('W', S, key=lambda s: s.k)\n"
    )
    try:
        assert main(["check", str(broken), str(empty)]) == 1
    finally:
        for name in ("dgr_check_broken", "dgr_check_empty"):
            sys.modules.pop(name, None)
    err = capsys.readouterr().err
    assert "DGR001 importing dgr_check_broken raised RuntimeError: not ready" in err
    assert "DGR107 workflow 'W' has no process" in err
    assert err.endswith("2 errors\n")


def test_no_path_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["check"])
    assert exited.value.code == 2
    assert "daggerc check --help" in capsys.readouterr().err
