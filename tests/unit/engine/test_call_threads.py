"""Plain call functions run in the engine's threads, never on the event loop; calls started
together share a trip to a thread, yet each run gets its own outcome, and neither a call with a
timeout nor a function once seen slow makes other calls wait behind it."""

from __future__ import annotations

import asyncio
import threading
import time

from attrs import evolve

from runtime import Engine, Status
from runtime.engine_threads import CHUNK, SLOW_S

from .flows import Doc, call, process, workflow

RUNS = 3 * CHUNK + 5  # several shared trips, the last one partly filled


def _number(d: Doc) -> int:
    return int(d.key.removeprefix("k"))


async def test_calls_started_together_each_get_their_own_outcome(url: str) -> None:
    threads: set[str] = set()

    def pay(d: Doc) -> Doc:
        threads.add(threading.current_thread().name)
        if _number(d) % 7 == 0:
            raise ValueError(f"card declined for {d.key}")
        return evolve(d, n=_number(d))

    wf = workflow("Pay", process("P", call(pay)))
    async with Engine(url, workflows=[wf]) as engine:
        runs = [await engine.start(wf, Doc(f"k{i}")) for i in range(RUNS)]
        await engine.run(until_idle=True)
        statuses = [await engine.status(r.id) for r in runs]
    for i, status in enumerate(statuses):
        assert status is not None
        if i % 7 == 0:
            assert status.status is Status.FAILED, i
            detail = status.nodes[-1].detail or ""
            assert detail.endswith(f": ValueError: card declined for k{i}"), detail
        else:
            assert (status.status, status.state.n) == (Status.COMPLETED, i)
    assert threads and all(name.startswith("dagger-call") for name in threads)


async def test_a_blocking_call_with_a_timeout_times_out_on_its_own(url: str) -> None:
    def block(d: Doc) -> Doc:
        time.sleep(0.5)
        return d

    def quick(d: Doc) -> Doc:
        return evolve(d, n=1)

    blocked = workflow(
        "Blocked",
        process("P", call(block, timeout=0.05, on_error=lambda d, e: evolve(d, seen=(e,)))),
    )
    fast = workflow("Fast", process("P", call(quick)))
    async with Engine(url, workflows=[blocked, fast]) as engine:
        slow_run = await engine.start(blocked, Doc("b"))
        quick_runs = [await engine.start(fast, Doc(f"q{i}")) for i in range(10)]
        await engine.run(until_idle=True)
        slow = await engine.status(slow_run.id)
        done = [await engine.status(r.id) for r in quick_runs]
    assert slow is not None and slow.state.seen == ("timed out after 0.05 s",)
    assert all(s is not None and (s.status, s.state.n) == (Status.COMPLETED, 1) for s in done)


async def test_a_function_once_seen_slow_runs_alone_after(url: str) -> None:
    """Two threads: six calls started together go in two chunks of three, so two quick calls
    share a chunk with (and wait for) `slow`, the first time only."""
    finished: list[str] = []
    all_in = threading.Event()

    def done(key: str) -> None:
        finished.append(key)
        if len(finished) == 6:
            all_in.set()

    def slow(d: Doc) -> Doc:
        time.sleep(SLOW_S * 15)
        done("slow")
        return d

    def quick(d: Doc) -> Doc:
        done(d.key.partition("-")[0])
        return d

    slow_wf = workflow("Slow", process("P", call(slow)))
    quick_wf = workflow("Quick", process("P", call(quick)))

    async def together(round_: str) -> list[str]:
        """Start a slow run and five quick ones at once on the running engine; the order their
        calls finished in."""
        finished.clear()
        all_in.clear()
        await asyncio.gather(
            engine.start(slow_wf, Doc(f"slow-{round_}")),
            *(engine.start(quick_wf, Doc(f"q{i}-{round_}")) for i in range(5)),
        )
        assert await asyncio.to_thread(all_in.wait, 30), finished
        return list(finished)

    engine = Engine(url, workflows=[slow_wf, quick_wf], handle_signals=False, call_threads=2)
    async with engine:
        running = asyncio.create_task(engine.run())
        first = await together("a")
        then = await together("b")
        engine.shutdown()
        await running
    assert first.index("slow") < first.index("q1")  # q0 and q1 shared its chunk and waited
    assert then[-1] == "slow"  # known to be slow: it went alone, the quick ones did not wait


async def test_calls_that_block_run_side_by_side(url: str) -> None:
    """Calls started together are spread over the pool's threads: eight calls that block go to
    eight threads, not one after another in a chunk."""
    lock = threading.Lock()
    all_done = threading.Event()
    now_running, most, finished = 0, 0, 0

    def block(d: Doc) -> Doc:
        nonlocal now_running, most, finished
        with lock:
            now_running += 1
            most = max(most, now_running)
        time.sleep(0.1)
        with lock:
            now_running -= 1
            finished += 1
            if finished == 8:
                all_done.set()
        return d

    wf = workflow("Block", process("P", call(block)))
    async with Engine(url, workflows=[wf], handle_signals=False, call_threads=8) as engine:
        running = asyncio.create_task(engine.run())
        await asyncio.gather(*(engine.start(wf, Doc(f"b{i}")) for i in range(8)))
        assert await asyncio.to_thread(all_done.wait, 30)
        engine.shutdown()
        await running
    assert most == 8


async def test_a_timeout_error_of_the_function_itself_is_its_error(url: str) -> None:
    """A socket that times out raises TimeoutError: that is the call's failure, not the call's
    own `timeout` (which this attempt did not reach), with or without one."""

    def fetch(d: Doc) -> Doc:
        raise TimeoutError(f"socket to {d.key} timed out")

    def keep(d: Doc, error: str) -> Doc:
        return evolve(d, seen=(error,))

    untimed = workflow("Untimed", process("P", call(fetch, on_error=keep)))
    timed = workflow("Timed", process("P", call(fetch, timeout=30, on_error=keep)))
    async with Engine(url, workflows=[untimed, timed]) as engine:
        runs = [await engine.start(untimed, Doc("a")), await engine.start(timed, Doc("b"))]
        await engine.run(until_idle=True)
        seen = [s.state.seen for r in runs if (s := await engine.status(r.id)) is not None]
    assert seen == [
        ("TimeoutError: socket to a timed out",),
        ("TimeoutError: socket to b timed out",),
    ]
