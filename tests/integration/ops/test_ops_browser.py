"""The web page in headless Chromium: filter the list, open an instance, find its graph drawn.

Screenshots of each page land in the test's tmp_path (list.png, completed.png, instance.png).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from .chromium import Browser, find_or_install
from .conftest import DECLINE_FROM, HELD, Served
from .test_ops_http import start

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]  # a first run may apt-get chromium

ROWS = "[...document.querySelectorAll('#instances tbody tr')]"


@pytest.fixture(scope="session")
def chromium() -> str:
    executable, why = find_or_install()
    if executable is None:
        pytest.skip(why)
    return executable


@pytest.fixture
async def browser(chromium: str, tmp_path: Path) -> AsyncIterator[Browser]:
    b = await Browser.launch(chromium, tmp_path / "profile")
    try:
        yield b
    finally:
        await b.close()


async def test_filter_to_completed_and_open_an_instance_graph(
    served: Served, browser: Browser, tmp_path: Path
) -> None:
    for n in range(12):
        amount = DECLINE_FROM if n % 4 == 0 else HELD if n % 5 == 0 else 100 + n
        await start(served, f"B{n:02d}", amount)
    await served.settle()

    await browser.goto(served.url + "/#/?limit=10")
    assert await browser.wait_for(f"{ROWS}.length === 10 && {ROWS}.length")
    assert await browser.evaluate("!document.getElementById('next').disabled")
    await browser.screenshot(tmp_path / "list.png")

    await browser.evaluate(
        "document.getElementById('filter-status').value = 'COMPLETED';"
        "document.getElementById('apply').click(); true"
    )
    await browser.wait_for(
        f"location.hash.includes('status=COMPLETED') && {ROWS}.length > 0"
        f" && {ROWS}.every(r => r.dataset.status === 'COMPLETED')"
    )
    statuses = await browser.evaluate(f"{ROWS}.map(r => r.cells[2].innerText)")
    assert statuses == ["COMPLETED"] * 7
    await browser.screenshot(tmp_path / "completed.png")

    first = await browser.evaluate("document.querySelector('#instances tbody a').innerText")
    await browser.evaluate("document.querySelector('#instances tbody a').click(); true")
    drawn = await browser.wait_for(
        "document.querySelectorAll('#graph svg g.node').length === 11"
        " && [...document.querySelectorAll('#graph svg g.node')].map(g => g.dataset.status)"
    )
    assert drawn.count("COMPLETED") == 10 and drawn.count("SKIPPED") == 1
    assert await browser.evaluate("document.getElementById('inst-id').innerText") == first
    assert await browser.evaluate("document.querySelectorAll('#graph svg path.edge').length") >= 10
    skipped = "#graph g[data-status=SKIPPED] > rect"
    fill = await browser.evaluate(f"getComputedStyle(document.querySelector('{skipped}')).fill")
    done = "#graph g.kind-call[data-status=COMPLETED] > rect"
    assert fill != await browser.evaluate(
        f"getComputedStyle(document.querySelector('{done}')).fill"
    )
    await browser.screenshot(tmp_path / "instance.png")
    for name in ("list.png", "completed.png", "instance.png"):
        assert (tmp_path / name).stat().st_size > 10_000
