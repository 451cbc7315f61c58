"""Helpers for compiler tests: build a case, import what it generated, and the `fresh_input`
fixture (test modules import it; a conftest.py here would clash with other test folders' as the
module `conftest` under mypy, and this folder cannot be a package named `codegen`)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from codegen.pipeline import CompileResult, compile_paths

ROOT = Path(__file__).resolve().parents[3]
CASES = ROOT / "tests" / "cases"


def build_case(case: str, *, typecheck: bool = True, out: Path | None = None) -> CompileResult:
    """`daggerc build tests/cases/<case>/input.py`, in memory unless `out` is given."""
    return compile_paths([CASES / case / "input.py"], out, typecheck)


def import_built(result: CompileResult, folder: Path, package: str) -> ModuleType:
    """Write a build's modules as package `package` under `folder` and import its one workflow
    module (the test's fixture restores sys.path and sys.modules)."""
    target = folder / package
    target.mkdir(parents=True)
    for module in result.modules:
        (target / module.filename).write_text(module.text, encoding="utf-8")
    sys.path.insert(0, str(folder))
    names = [m.name for m in result.modules if m.ir is not None]
    assert len(names) == 1, names
    return importlib.import_module(f"{package}.{names[0]}")


def messages(result: CompileResult) -> list[str]:
    return [f"{d.code} {d.message}" for d in result.diagnostics]


@pytest.fixture
def fresh_input(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run from the repo root with sys.path restored after; `input` (every case's DSL module)
    and the packages tests generate from it (named `built_*`) are imported afresh."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(sys, "path", list(sys.path))
    _forget()
    yield
    _forget()


def _forget() -> None:
    for name in [n for n in sys.modules if n == "input" or n.startswith("built_")]:
        del sys.modules[name]
