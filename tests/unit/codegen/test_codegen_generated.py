"""`generated/` is what `daggerc build examples/` makes today, byte for byte, on any hash seed."""

from __future__ import annotations

import difflib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from codegen_support import (
    ROOT,
    fresh_input,  # noqa: F401 - a fixture: pytest finds it by name
    messages,
)

from codegen.pipeline import compile_paths

COMMAND = "daggerc build examples/ --out generated/"


def _diff(expected: str, actual: str, name: str) -> str:
    lines = difflib.unified_diff(
        expected.splitlines(keepends=True),
        actual.splitlines(keepends=True),
        fromfile=f"generated/{name} (committed)",
        tofile=f"generated/{name} (built from examples/)",
    )
    return "".join(lines)


@pytest.mark.usefixtures("fresh_input")
def test_generated_is_up_to_date_with_examples() -> None:
    result = compile_paths([ROOT / "examples"], None, typecheck=False)
    assert messages(result) == []
    problems = []
    for module in result.modules:
        committed = ROOT / "generated" / module.filename
        text = committed.read_text(encoding="utf-8") if committed.exists() else ""
        if text != module.text:
            problems.append(_diff(text, module.text, module.filename))
    built = {m.filename for m in result.modules}
    extra = sorted(p.name for p in (ROOT / "generated").glob("*.py") if p.name not in built)
    if extra:
        problems.append(
            f"generated/ also holds {', '.join(extra)}, which examples/ no longer makes"
        )
    assert not problems, (
        "generated/ is out of date with examples/; regenerate it with\n"
        f"    {COMMAND}\n\n" + "\n".join(problems)
    )


def _build(out: Path, seed: str) -> dict[str, bytes]:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    command = [
        sys.executable,
        "-m",
        "codegen.cli",
        "build",
        "examples/",
        "tests/cases/build_codecs/input.py",
    ]
    done = subprocess.run(
        [*command, "--out", str(out), "--no-typecheck"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=100,
    )
    assert done.returncode == 0, done.stderr
    return {p.name: p.read_bytes() for p in sorted(out.glob("*.py"))}


def test_output_is_identical_across_runs_and_hash_seeds(tmp_path: Path) -> None:
    first = _build(tmp_path / "a", "0")
    second = _build(tmp_path / "b", "4242")
    assert sorted(first) == ["__init__.py", "input.py", "orders.py"]
    assert first == second
