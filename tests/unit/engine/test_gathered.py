"""Gathered: calls made in one event-loop iteration reach a batch handler in chunks, and each
caller gets its own outcome."""

from __future__ import annotations

import asyncio

import pytest

from runtime.gathered import Gathered


class Doubler:
    """A batch handler that doubles each item and remembers the chunks it was given. An item
    in `bad` gets an exception of its own; a chunk holding an item in `fatal` makes it raise."""

    def __init__(self, bad: frozenset[int] = frozenset(), fatal: frozenset[int] = frozenset()):
        self.chunks: list[list[int]] = []
        self.bad = bad
        self.fatal = fatal

    async def __call__(self, items: list[int]) -> list[int | Exception]:
        self.chunks.append(items)
        await asyncio.sleep(0)
        if self.fatal.intersection(items):
            raise RuntimeError(f"chunk from {items[0]} broke")
        return [ValueError(f"bad item {i}") if i in self.bad else i * 2 for i in items]


async def test_concurrent_calls_reach_the_handler_in_chunks_and_get_their_own_result() -> None:
    handler = Doubler()
    gathered = Gathered(handler, 64)
    results = await asyncio.gather(*(gathered(i) for i in range(300)))
    assert results == [i * 2 for i in range(300)]
    assert [len(c) for c in handler.chunks] == [64, 64, 64, 64, 44]
    assert [i for c in handler.chunks for i in c] == list(range(300))


async def test_spread_cuts_a_few_calls_into_as_many_chunks_and_many_into_full_ones() -> None:
    handler = Doubler()
    gathered = Gathered(handler, 64, spread=3)
    assert await asyncio.gather(*(gathered(i) for i in range(7))) == [i * 2 for i in range(7)]
    assert [len(c) for c in handler.chunks] == [3, 3, 1]
    handler.chunks.clear()
    await asyncio.gather(*(gathered(i) for i in range(300)))
    assert [len(c) for c in handler.chunks] == [64, 64, 64, 64, 44]


async def test_an_error_given_for_one_item_goes_to_its_caller_only() -> None:
    handler = Doubler(bad=frozenset({3, 7}))
    gathered = Gathered(handler, 4)
    results = await asyncio.gather(*(gathered(i) for i in range(10)), return_exceptions=True)
    errors = {i: str(r) for i, r in enumerate(results) if isinstance(r, ValueError)}
    assert errors == {3: "bad item 3", 7: "bad item 7"}
    assert [r for r in results if not isinstance(r, Exception)] == [
        i * 2 for i in range(10) if i not in (3, 7)
    ]


async def test_a_handler_that_raises_fails_exactly_the_callers_of_its_chunk() -> None:
    handler = Doubler(fatal=frozenset({15}))
    gathered = Gathered(handler, 10)
    results = await asyncio.gather(*(gathered(i) for i in range(30)), return_exceptions=True)
    failed = [i for i, r in enumerate(results) if isinstance(r, RuntimeError)]
    assert failed == list(range(10, 20))
    assert {str(results[i]) for i in failed} == {"chunk from 10 broke"}
    assert [results[i] for i in (*range(10), *range(20, 30))] == [
        i * 2 for i in (*range(10), *range(20, 30))
    ]


async def test_calls_of_different_iterations_form_different_batches() -> None:
    """The second calls are made while the first batch is still in the handler: they form a
    batch of their own, handled meanwhile, not after it."""
    entered, release = asyncio.Event(), asyncio.Event()
    chunks: list[list[int]] = []

    async def slow_first(items: list[int]) -> list[int | Exception]:
        chunks.append(items)
        if len(chunks) == 1:
            entered.set()
            await release.wait()
        return list(items)

    gathered = Gathered(slow_first, 64)
    first = [asyncio.create_task(gathered(i)) for i in range(3)]
    await entered.wait()
    second = await asyncio.gather(*(gathered(i) for i in (3, 4)))
    assert [t.done() for t in first] == [False] * 3
    release.set()
    assert await asyncio.gather(*first) == [0, 1, 2]
    assert second == [3, 4]
    assert chunks == [[0, 1, 2], [3, 4]]


async def test_a_cancelled_caller_leaves_the_others_their_results() -> None:
    entered = asyncio.Event()
    release = asyncio.Event()
    seen: list[list[int]] = []

    async def blocking(items: list[int]) -> list[int | Exception]:
        seen.append(items)
        entered.set()
        await release.wait()
        return [i + 100 for i in items]

    gathered = Gathered(blocking, 8)
    tasks = [asyncio.create_task(gathered(i)) for i in range(5)]
    await entered.wait()
    tasks[2].cancel()
    await asyncio.sleep(0)
    release.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert tasks[2].cancelled()
    assert [r for i, r in enumerate(results) if i != 2] == [100, 101, 103, 104]
    assert seen == [[0, 1, 2, 3, 4]]


async def test_cancelling_the_running_chunk_cancels_its_callers_only() -> None:
    """The handler cancels its own task (as a shutdown would): the callers of that chunk are
    cancelled, those of the other chunk get their results."""

    async def cancels_chunk_with_zero(items: list[int]) -> list[int | Exception]:
        await asyncio.sleep(0)
        if 0 in items:
            task = asyncio.current_task()
            assert task is not None
            task.cancel()
            await asyncio.sleep(0)
        return list(items)

    gathered = Gathered(cancels_chunk_with_zero, 3)
    tasks = [asyncio.create_task(gathered(i)) for i in range(6)]
    done, _ = await asyncio.wait(tasks, timeout=5)
    assert len(done) == 6
    assert [t.cancelled() for t in tasks] == [True] * 3 + [False] * 3
    assert [t.result() for t in tasks[3:]] == [3, 4, 5]


@pytest.mark.parametrize("size", [1, 7])
async def test_every_chunk_is_at_most_size_long(size: int) -> None:
    handler = Doubler()
    gathered = Gathered(handler, size)
    assert await asyncio.gather(*(gathered(i) for i in range(20))) == list(range(0, 40, 2))
    assert all(len(c) <= size for c in handler.chunks)
    assert len(handler.chunks) == -(-20 // size)
