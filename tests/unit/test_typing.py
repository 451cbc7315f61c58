"""The DSL's types, both ways: every `tests/typing/pass` snippet passes mypy --strict, and every
`tests/typing/fail` snippet gets exactly the errors pinned on its lines as `# E: <message>  [code]`
comments (several on one line are written one after another). Notes are not pinned.

One mypy run checks all snippets; its incremental cache lives in `.mypy_cache/typing_snippets`.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import pytest
from mypy import api

ROOT = Path(__file__).resolve().parents[2]
SNIPPETS = ROOT / "tests" / "typing"
PASS = sorted((SNIPPETS / "pass").glob("*.py"))
FAIL = sorted((SNIPPETS / "fail").glob("*.py"))
ERROR = re.compile(r"^(?P<file>.+?):(?P<line>\d+): error: (?P<message>.*)$")
PINNED = "# E: "

Errors = dict[Path, list[tuple[int, str]]]


@pytest.fixture(scope="module")
def mypy_errors() -> Errors:
    """Every error mypy --strict reports on all snippets, by file, as (line, message)."""
    stdout, stderr, status = api.run(
        [
            "--strict",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(ROOT / ".mypy_cache" / "typing_snippets"),
            "--no-error-summary",
            *(str(p) for p in (*PASS, *FAIL)),
        ]
    )
    assert status in (0, 1) and not stderr, f"mypy did not run: {stderr or stdout}"
    found: Errors = defaultdict(list)
    for line in stdout.splitlines():
        match = ERROR.match(line)
        if match:
            path = (ROOT / match["file"]).resolve()
            found[path].append((int(match["line"]), match["message"]))
    return found


def pinned(snippet: Path) -> list[tuple[int, str]]:
    """The `# E:` comments of a snippet as (line, message)."""
    expected = []
    for number, line in enumerate(snippet.read_text(encoding="utf-8").splitlines(), start=1):
        _, _, comments = line.partition(f"  {PINNED}")
        if comments:
            expected += [(number, m.strip()) for m in f"{PINNED}{comments}".split(PINNED)[1:]]
    return expected


@pytest.mark.parametrize("snippet", PASS, ids=lambda p: p.stem)
def test_correct_use_type_checks(snippet: Path, mypy_errors: Errors) -> None:
    assert mypy_errors.get(snippet, []) == []


@pytest.mark.parametrize("snippet", FAIL, ids=lambda p: p.stem)
def test_misuse_gets_exactly_the_pinned_errors(snippet: Path, mypy_errors: Errors) -> None:
    expected = pinned(snippet)
    assert expected, f"{snippet.name} pins no error: add `{PINNED}<message>  [code]` comments"
    assert sorted(mypy_errors.get(snippet, [])) == sorted(expected)


def test_enough_snippets_both_ways() -> None:
    assert len(PASS) >= 8
    assert len(FAIL) >= 12
    names = [p.stem for p in (*PASS, *FAIL)]
    assert len(names) == len(set(names)), "mypy needs distinct module names across pass/ and fail/"
