"""`daggerc build` on each `tests/cases/build_*/input.py`: every generated module pinned as a
syrupy single-file `.py` snapshot beside the case, in
`tests/cases/<case>/input_generated/test_codegen_cases/`, and type-checked with mypy --strict on
the way (the goldens import the case's loose `input` module, so `make check`'s mypy, which cannot
resolve it, skips them with the inputs).

Add a case by adding a folder with an `input.py`; pin or update the modules with
`.venv/bin/pytest --snapshot-update tests/unit/codegen/test_codegen_cases.py`.
"""

from __future__ import annotations

from typing import ClassVar

import pytest
from codegen_support import CASES, build_case, messages
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode
from syrupy.location import PyTestLocation

NAMES = sorted(p.parent.name for p in CASES.glob("build_*/input.py"))


class GeneratedModule(SingleFileSnapshotExtension):
    """A generated module as a `.py` file in its case's folder."""

    _write_mode = WriteMode.TEXT
    file_extension = "py"
    case: ClassVar[str] = ""

    @classmethod
    def dirname(cls, *, test_location: PyTestLocation) -> str:
        return str(CASES / cls.case / "input_generated" / test_location.basename)


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
        name = module.name if len(modules) > 1 else None
        assert module.text == snapshot(name=name, extension_class=extension)
