"""`daggerc build` on each `tests/cases/build_*/input.py`: every generated module pinned as a
syrupy single-file `.py` snapshot beside the case, `tests/cases/<case>/expected/<module>.py`, and
type-checked with mypy --strict on the way. (The goldens import the case's loose `input` module,
which `make check`'s mypy cannot resolve, so it skips them with the inputs; pytest does not
collect them, their names not being `test_*.py`.)

Add a case by adding a folder with an `input.py`; pin or update the modules with
`.venv/bin/pytest --snapshot-update tests/unit/codegen/test_codegen_cases.py`.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest
from codegen_support import (
    CASES,
    build_case,
    fresh_input,  # noqa: F401 - a fixture: pytest finds it by name
    messages,
)
from syrupy.assertion import SnapshotAssertion
from syrupy.data import Snapshot, SnapshotCollection
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode
from syrupy.location import PyTestLocation
from syrupy.types import SnapshotIndex

NAMES = sorted(p.parent.name for p in CASES.glob("build_*/input.py"))
TEST = "test_build_case"


class GeneratedModule(SingleFileSnapshotExtension):
    """A generated module as `tests/cases/<case>/expected/<module>.py`, named after the module
    rather than the test (syrupy's default), so the folder reads like the output folder."""

    _write_mode = WriteMode.TEXT
    file_extension = "py"
    case: ClassVar[str] = ""

    @classmethod
    def folder(cls) -> Path:
        return CASES / cls.case / "expected"

    @classmethod
    def dirname(cls, *, test_location: PyTestLocation) -> str:
        return str(cls.folder())

    @classmethod
    def get_file_basename(cls, *, test_location: PyTestLocation, index: SnapshotIndex) -> str:
        return str(index)  # the module's name

    @classmethod
    def matches_test_location(
        cls, *, test_location: PyTestLocation, snapshot_location: str
    ) -> bool:
        return Path(snapshot_location).parent == cls.folder()

    def read_snapshot_collection(self, *, snapshot_location: str) -> SnapshotCollection:
        collection = SnapshotCollection(location=snapshot_location)
        collection.add(Snapshot(name=f"{TEST}[{self.case}][{Path(snapshot_location).stem}]"))
        return collection


def extension_for(case: str) -> type[GeneratedModule]:
    return type(f"GeneratedModule_{case}", (GeneratedModule,), {"case": case})


def test_every_task_kind_has_a_case() -> None:
    assert {"build_command", "build_listen", "build_call", "build_decide", "build_parallel"} <= set(
        NAMES
    )
    assert {"build_timers", "build_codecs", "build_orders"} <= set(NAMES)


@pytest.mark.usefixtures("fresh_input")
@pytest.mark.parametrize("case", NAMES)
def test_build_case(case: str, snapshot: SnapshotAssertion) -> None:
    result = build_case(case)
    assert messages(result) == []
    extension = extension_for(case)
    modules = [m for m in result.modules if m.ir is not None]
    assert modules, f"{case} defines no workflow"
    for module in modules:
        assert module.text == snapshot(name=module.name, extension_class=extension)
