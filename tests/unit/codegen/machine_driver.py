"""Drive a generated module's pure transition functions the way the engine would: perform each
effect (run calls, keep timers and waits, collect sent messages) and feed the results back."""

from __future__ import annotations

import asyncio
import inspect
import itertools
from types import ModuleType
from typing import Any

from runtime.types import (
    AddWait,
    CallFinished,
    Cancel,
    CancelTimer,
    Effect,
    Event,
    Finished,
    Instance,
    MessageArrived,
    NodeRun,
    RemoveWait,
    RunCall,
    Send,
    SetTimer,
    Status,
    TimerFired,
    Transition,
)


class Driver:
    """One instance of a generated workflow module, with the clock in the test's hands."""

    def __init__(
        self,
        module: ModuleType,
        state: Any,
        *,
        now: float = 0.0,
        fail_calls: int = 0,
        failing: frozenset[str] = frozenset(),
    ) -> None:
        self.module = module
        self.workflow = next(
            v for v in vars(module).values() if type(v).__name__ == "CompiledWorkflow"
        )
        self.now = now
        self.sent: list[Send] = []
        self.indexed: set[tuple[str, str]] = set()  # what a correlation index would hold
        self.timers: dict[str, float] = {}
        self.finished: list[Status] = []
        self.fail_calls = fail_calls  # how many call attempts raise before calls succeed
        self.failing = failing  # names of call nodes whose every attempt raises
        self._ids = itertools.count(1)
        self.instance: Instance[Any] = self._perform(module.start(state, now=now))

    # ------------------------------------------------------------------ what the test does

    def deliver(self, topic: str, message: Any) -> None:
        spec = next(t for t in self.workflow.topics if t.name == topic)
        key = spec.key(message)
        assert (topic, key) in self.waits, f"nothing waits on {topic}/{key}: {self.waits}"
        decoded = spec.decode(spec.encode(message))
        self._apply(MessageArrived(self._id(), topic, key, decoded))

    def advance(self, seconds: float) -> None:
        """Move the clock and fire every timer that falls due, earliest first."""
        self.now += seconds
        while True:
            due = sorted((d, t) for t, d in self.timers.items() if d <= self.now)
            if not due:
                return
            _, timer = due[0]
            del self.timers[timer]
            self._apply(TimerFired(self._id(), timer))

    def cancel(self) -> None:
        self._apply(Cancel(self._id(), "stopped by the test"))

    def run_of(self, name: str) -> NodeRun:
        node = next(n for n in self.workflow.nodes if n.name == name)
        found: NodeRun = self.instance.nodes[node.id]
        return found

    def status(self, name: str) -> Status:
        return self.run_of(name).status

    @property
    def state(self) -> Any:
        return self.instance.state

    @property
    def waits(self) -> set[tuple[str, str]]:
        """What the run waits on: the index the AddWait/RemoveWait effects keep, and the run's
        own waits (a `by_key` listener's are in no index: the engine finds the run by its id)."""
        return self.indexed | {(w.topic, w.key) for w in self.instance.waits}

    def sent_to(self, topic: str) -> list[Any]:
        spec = next(t for t in self.workflow.topics if t.name == topic)
        return [spec.decode(s.value) for s in self.sent if s.topic == topic]

    # ------------------------------------------------------------------ the engine's side

    def _id(self) -> str:
        return f"e{next(self._ids)}"

    def _apply(self, event: Event) -> None:
        self.instance = self._perform(self.module.apply(self.instance, event, now=self.now))

    def _perform(self, transition: Transition[Any]) -> Instance[Any]:
        self.instance = transition.instance
        calls = []
        for effect in transition.effects:
            if isinstance(effect, RunCall):
                calls.append(effect)
            else:
                self._record(effect)
        for run in calls:
            self._apply(self._run_call(run))
        return self.instance

    def _record(self, effect: Effect) -> None:
        if isinstance(effect, Send):
            self.sent.append(effect)
        elif isinstance(effect, AddWait):
            if not effect.direct:
                self.indexed.add((effect.topic, effect.key))
        elif isinstance(effect, RemoveWait):
            self.indexed.discard((effect.topic, effect.key))
        elif isinstance(effect, SetTimer):
            self.timers[effect.timer_id] = effect.due
        elif isinstance(effect, CancelTimer):
            self.timers.pop(effect.timer_id, None)
        elif isinstance(effect, Finished):
            self.finished.append(effect.status)

    def _run_call(self, run: RunCall) -> CallFinished:
        node = self.workflow.nodes[run.node]
        if node.name in self.failing:
            return CallFinished(self._id(), run.node, run.attempt, error=f"boom {run.attempt}")
        if self.fail_calls:
            self.fail_calls -= 1
            return CallFinished(self._id(), run.node, run.attempt, error="boom")
        result = node.fn(self.instance.state)
        if inspect.isawaitable(result):
            result = asyncio.run(_wait(result))
        return CallFinished(self._id(), run.node, run.attempt, state=result)


async def _wait(awaitable: Any) -> Any:
    return await awaitable
