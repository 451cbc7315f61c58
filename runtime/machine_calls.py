"""Calls: attempts, retries with backoff, exhaustion.

An attempt is announced with `RunCall(node, attempt)`; the engine runs the function (enforcing the
node's per-attempt `timeout`, and keeping the RunCall owed until its answer is applied) and answers
with `CallFinished`. A failed attempt waits on the timer `retry:{node}:{attempt + 1}` before the
next RunCall; the only timer a call node ever holds is that one.
"""

from __future__ import annotations

import hashlib
from typing import Any

import attrs

from runtime.machine_run import Run, guarded
from runtime.types import (
    Call,
    CallFinished,
    CompiledWorkflow,
    Instance,
    NodeRun,
    RetryPolicy,
    RunCall,
    Status,
)

AnyRun = Run[Any]


def run_attempt(run: AnyRun, node: Call[Any], attempt: int) -> None:
    """Announce `attempt` of `node` (its NodeRun already carries that attempt number)."""
    run.effects.append(RunCall(node.id, attempt))


def awaits_result(wf: CompiledWorkflow[Any], instance: Instance[Any], event: CallFinished) -> bool:
    """True when `event` answers the attempt the call node is running right now."""
    n = event.node
    if not 0 <= n < len(wf.nodes) or type(wf.nodes[n]) is not Call:
        return False
    current = instance.nodes[n]
    if current.status is not Status.EXECUTING or current.attempt != event.attempt:
        return False
    return not any(t.node == n for t in instance.timers)  # a retry is scheduled, not running


def call_finished(run: AnyRun, node: Call[Any], event: CallFinished) -> None:
    """The current attempt of the running call `node` returned or raised."""
    if event.error is not None:
        attempt_failed(run, node, event.attempt, event.error)
    elif not isinstance(event.state, run.wf.state_type):
        expected = run.wf.state_type.__name__
        got = type(event.state).__name__
        run.fail(node.id, f"node {node.name}: the call returned a {got}, not a {expected}")
    else:
        run.state = merge(run.state, event.base, event.state)
        run.complete(node.id)


def merge(current: Any, base: object | None, result: object) -> object:
    """Apply to `current` the fields that the call changed from `base` to `result`.

    Without a base (or for a state that is not an attrs class) the result replaces the state."""
    cls = type(result)
    if base is None or current is base or type(base) is not cls or not attrs.has(cls):
        return result
    changes = {
        field.alias: getattr(result, field.name)
        for field in attrs.fields(cls)
        if field.init and getattr(result, field.name) != getattr(base, field.name)
    }
    return attrs.evolve(current, **changes) if changes else current


def on_retry_timer(run: AnyRun, node: Call[Any]) -> None:
    run_attempt(run, node, run.runs[node.id].attempt)


def attempt_failed(run: AnyRun, node: Call[Any], attempt: int, error: str) -> None:
    n = node.id
    if attempt < node.retry.attempts:
        previous = run.runs[n]
        detail = f"attempt {attempt} failed: {error}"
        run.runs[n] = NodeRun(Status.EXECUTING, previous.started_at, None, attempt + 1, detail)
        due = run.now + backoff(node.retry, run.id, n, attempt)
        run.set_timer(f"retry:{n}:{attempt + 1}", n, due)
    elif node.on_error is not None:
        run.state = guarded(node, node.on_error, run.state, error)
        run.complete(n, f"failed after {attempt} attempts, handled by on_error: {error}")
    else:
        run.fail(n, f"call {node.name} failed after {attempt} attempts: {error}")


def backoff(policy: RetryPolicy, instance_id: str, node: int, attempt: int) -> float:
    """Seconds to wait after `attempt` failed: exponential, capped, with deterministic jitter."""
    delay = policy.initial
    for _ in range(attempt - 1):
        if delay >= policy.maximum:
            break
        delay *= policy.multiplier
    delay = min(delay, policy.maximum)
    if policy.jitter <= 0.0:
        return delay
    seed = f"{instance_id}/{node}/{attempt}".encode()
    unit = int.from_bytes(hashlib.blake2b(seed, digest_size=8).digest()) / 2.0**64
    return max(0.0, delay * (1.0 + policy.jitter * (2.0 * unit - 1.0)))
