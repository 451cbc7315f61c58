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


FLOW = """
import functools
from attrs import evolve, frozen
from dsl import call, process, workflow


@frozen
class S:
    k: str
    n: int = 0


def add(s: S, k: int) -> S:
    return evolve(s, n=s.n + k)


def bump(s: S) -> S:
    return add(s, 1)


W = (
    workflow("W", S, key=lambda s: s.k)
    >> process("P")
    >> call(lambda s: evolve(s, n=s.nope))
    >> CALL
)
"""


@pytest.mark.usefixtures("in_root")
@pytest.mark.parametrize("typecheck", [True, False], ids=["with_mypy", "no_typecheck"])
def test_check_reports_what_build_would(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], typecheck: bool
) -> None:
    """What lowering and mypy find in the code `build` would write is a `check` problem too."""
    name = f"dgr_check_build_{typecheck}"
    for call, module in (("call(functools.partial(add, k=2))", name), ("call(bump)", name + "_b")):
        (tmp_path / f"{module}.py").write_text(FLOW.replace("CALL", call))
    paths = [str(tmp_path / f"{name}.py"), str(tmp_path / f"{name}_b.py")]
    try:
        flags = [] if typecheck else ["--no-typecheck"]
        assert main(["check", *flags, paths[0]]) == 1
        first = capsys.readouterr().err
        assert main(["check", *flags, paths[1]]) == (1 if typecheck else 0)
        second = capsys.readouterr().err
    finally:
        for module in (name, name + "_b"):
            sys.modules.pop(module, None)
    assert "DGR313 call(fn=...) is partial, which the generated module cannot import" in first
    lambda_error = 'DGR301 in lambda: "S" has no attribute "nope"'
    assert (lambda_error in second) is typecheck, second
    assert (lambda_error in first) is False  # lowering failed: nothing to type-check
