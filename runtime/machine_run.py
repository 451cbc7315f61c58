"""The working copy of one instance while one transition is computed (internal to the machine).

A `Run` holds mutable lists for the duration of a single `start` or `apply` and is turned back
into a frozen `Instance` at the end; nothing here does I/O or reads the clock.

The work stack holds node ids: `n >= 0` means "activate n", `~n` (negative) means "n finished,
tell its parent". Popping from the end makes the order depth-first, like the recursion it
replaces, without Python's recursion limit on long chains.
"""

from __future__ import annotations

from collections.abc import Callable, Container
from typing import Any, Generic, ParamSpec, TypeVar

from runtime.machine_plan import Plan
from runtime.types import (
    AddWait,
    CancelTimer,
    CompiledWorkflow,
    Decide,
    Effect,
    Finished,
    Instance,
    Listen,
    Node,
    NodeRun,
    Parallel,
    RemoveWait,
    SetTimer,
    Status,
    TimerRef,
    WaitRef,
)

S = TypeVar("S")
T = TypeVar("T")
P = ParamSpec("P")

EXECUTING = Status.EXECUTING
NOT_STARTED = Status.NOT_STARTED
COMPLETED = Status.COMPLETED


class UserError(Exception):
    """A user callable raised while node `node` was being run; `message` is what the user sees."""

    def __init__(self, node: int, message: str) -> None:
        super().__init__(message)
        self.node = node
        self.message = message


def guarded(node: Node[Any], fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Call user code for `node`; an exception becomes a `UserError` naming the node."""
    try:
        return fn(*args, **kwargs)
    except Exception as exc:
        raise UserError(node.id, f"node {node.name}: {type(exc).__name__}: {exc}") from exc


class Run(Generic[S]):
    """Mutable working state of one transition."""

    __slots__ = (
        "effects",
        "error",
        "id",
        "max_message",
        "now",
        "plan",
        "runs",
        "stack",
        "state",
        "status",
        "timers",
        "waits",
        "wf",
    )

    def __init__(
        self,
        wf: CompiledWorkflow[S],
        plan: Plan,
        instance: Instance[S],
        now: float,
        max_message: int | None = None,
    ) -> None:
        self.wf = wf
        self.plan = plan
        self.id = instance.id
        self.now = now
        self.max_message = max_message  # bytes of an encoded command message, at most
        self.state = instance.state
        self.status = instance.status
        self.error = instance.error
        self.runs = list(instance.nodes)
        self.waits = list(instance.waits)
        self.timers = list(instance.timers)
        self.effects: list[Effect] = []
        self.stack: list[int] = []

    def instance(self, before: Instance[S], applied: tuple[str, ...]) -> Instance[S]:
        return Instance(
            id=self.id,
            workflow=before.workflow,
            version=before.version,
            status=self.status,
            state=self.state,
            nodes=tuple(self.runs),
            waits=tuple(self.waits),
            timers=tuple(self.timers),
            applied=applied,
            created_at=before.created_at,
            updated_at=self.now,
            error=self.error,
        )

    # ------------------------------------------------------------------ node runs

    def begin(self, n: int, attempt: int = 0) -> None:
        self.runs[n] = NodeRun(EXECUTING, self.now, None, attempt, None)

    def complete(self, n: int, detail: str | None = None) -> None:
        """Mark n COMPLETED, release its waits and timers, and queue its parent's reaction."""
        run = self.runs[n]
        self.runs[n] = NodeRun(COMPLETED, run.started_at, self.now, run.attempt, detail)
        if self.waits or self.timers:
            self.release((n,))
        self.stack.append(~n)

    def fail(self, n: int, message: str) -> None:
        """Mark n FAILED and fail the whole instance with `message`."""
        run = self.runs[n]
        started = self.now if run.started_at is None else run.started_at
        self.runs[n] = NodeRun(Status.FAILED, started, self.now, run.attempt, message)
        self.finish(Status.FAILED, message)

    def halt(self, ids: tuple[int, ...]) -> None:
        """Stop the running nodes among `ids` (cancelling their waits and timers), skip the rest."""
        stopped: list[int] = []
        runs, now = self.runs, self.now
        for d in ids:
            run = runs[d]
            if run.status is EXECUTING:
                runs[d] = NodeRun(Status.STOPPED, run.started_at, now, run.attempt, run.detail)
                stopped.append(d)
            elif run.status is NOT_STARTED:
                runs[d] = NodeRun(Status.SKIPPED, None, now, 0, None)
        if stopped:
            self.release(frozenset(stopped))

    def finish(self, status: Status, error: str | None = None) -> None:
        """End the instance: stop every running node, drop all waits and timers, say so."""
        runs, now = self.runs, self.now
        for n, run in enumerate(runs):
            if run.status is EXECUTING:
                runs[n] = NodeRun(Status.STOPPED, run.started_at, now, run.attempt, run.detail)
        self._drop_waits(self.waits, ())
        self._drop_timers(self.timers)
        self.waits, self.timers = [], []
        self.status, self.error = status, error
        self.effects.append(Finished(status))
        self.stack.clear()

    # ------------------------------------------------------------------ waits and timers

    @property
    def key(self) -> str | None:
        """The run's key: its id without the leading "<workflow>:" (None for an id the engine
        did not make that way)."""
        prefix = f"{self.wf.name}:"
        return self.id[len(prefix) :] if self.id.startswith(prefix) else None

    def add_wait(self, wait: WaitRef, *, direct: bool = False) -> None:
        self.waits.append(wait)
        self.effects.append(AddWait(wait.topic, wait.key, direct))

    def set_timer(self, timer_id: str, n: int, due: float) -> None:
        due = max(due, self.now)
        self.timers.append(TimerRef(timer_id, n, due))
        self.effects.append(SetTimer(timer_id, due))

    def take_timer(self, timer_id: str) -> TimerRef | None:
        """Remove a fired timer (no effect: the engine already dropped it)."""
        for i, timer in enumerate(self.timers):
            if timer.timer_id == timer_id:
                del self.timers[i]
                return timer
        return None

    def release(self, nodes: Container[int]) -> None:
        """Drop the waits and timers held by `nodes`, emitting RemoveWait/CancelTimer."""
        if self.waits:
            gone = [w for w in self.waits if w.node in nodes]
            if gone:
                self.waits = [w for w in self.waits if w.node not in nodes]
                self._drop_waits(gone, self.waits)
        if self.timers:
            fired = [t for t in self.timers if t.node in nodes]
            if fired:
                self.timers = [t for t in self.timers if t.node not in nodes]
                self._drop_timers(fired)

    def _drop_waits(self, gone: list[WaitRef], kept: list[WaitRef] | tuple[()]) -> None:
        """One RemoveWait per (topic, key) no kept wait still holds in the index; a wait of a
        `by_key` listener is in no index (see AddWait.direct)."""
        still = {(w.topic, w.key) for w in kept if not self._direct(w)}
        for w in gone:
            if self._direct(w):
                continue
            pair = (w.topic, w.key)
            if pair not in still:
                still.add(pair)  # one RemoveWait per (topic, key)
                self.effects.append(RemoveWait(w.topic, w.key))

    def _direct(self, wait: WaitRef) -> bool:
        """Whether `wait` is a `by_key` listener's, on the run's own key (as `_listen` makes)."""
        node = self.wf.nodes[wait.node]
        return isinstance(node, Listen) and node.by_key and wait.key == self.key

    def _drop_timers(self, gone: list[TimerRef]) -> None:
        self.effects.extend(CancelTimer(t.timer_id) for t in gone)

    # ------------------------------------------------------------------ structure

    def child_done(self, child: int) -> None:
        """React to `child` having completed: next sibling, join, or the end of the workflow."""
        if self.runs[child].status is not COMPLETED or self.status is not EXECUTING:
            return
        parent = self.plan.parent[child]
        if parent < 0:
            self.finish(COMPLETED)
            return
        if self.runs[parent].status is not EXECUTING:
            return
        node = self.wf.nodes[parent]
        if isinstance(node, Parallel):
            self._join(node, child)
        elif isinstance(node, Decide):
            self.complete(parent)
        else:
            following = self.plan.next_sibling[child]
            if following >= 0:
                self.stack.append(following)
            else:
                self.complete(parent)

    def _join(self, node: Parallel[Any], child: int) -> None:
        if node.join == "any":
            subtree = self.plan.subtree
            for other in node.children:
                if other != child:
                    self.halt(subtree[other])
            self.complete(node.id)
        elif all(self.runs[c].status is COMPLETED for c in node.children):
            self.complete(node.id)
