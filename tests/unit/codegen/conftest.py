"""Fixtures for compiler tests: each DSL case imports as the loose module `input`, afresh."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


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
