"""Decisions: one branch runs, the others are skipped with everything inside them."""

from __future__ import annotations

import enum

from runtime.machine import apply, start
from runtime.types import AddWait, Finished, Send, Status

from .builders import (
    Doc,
    Msg,
    arrive,
    command,
    decide,
    flow,
    listen,
    process,
    statuses,
    topic,
    workflow,
)

OUT = topic("OUT")
REPLIES = topic("REPLIES")
T0 = 1_000.0


class Route(enum.Enum):
    AIR = "air"
    SEA = "sea"
    ROAD = "road"


def test_true_runs_the_then_branch_and_skips_the_other_with_its_descendants() -> None:
    wf = workflow(
        process(
            "P",
            decide(
                "paid?",
                lambda d: d.flag,
                {
                    True: flow("ship", process("SHIP", listen("packed", REPLIES))),
                    False: flow(
                        "refund",
                        process("REFUND", command("refund-cmd", OUT, lambda d: Msg(d.key))),
                    ),
                },
            ),
        ),
        process("AFTER", command("done", OUT, lambda d: Msg(d.key, "done"))),
    )
    t = start(wf, Doc("k", flag=True), now=T0)
    assert t.effects == (AddWait("REPLIES", "k"),)
    seen = statuses(wf, t.instance)
    assert (seen["paid?"], seen["ship"], seen["SHIP"], seen["packed"]) == (Status.EXECUTING,) * 4
    assert (seen["refund"], seen["REFUND"], seen["refund-cmd"]) == (Status.SKIPPED,) * 3

    done = apply(wf, t.instance, arrive(REPLIES, "k", "box"), now=T0 + 1)
    assert done.instance.status is Status.COMPLETED
    assert statuses(wf, done.instance)["paid?"] is Status.COMPLETED
    assert next(e for e in done.effects if isinstance(e, Send)).value == OUT.encode(
        Msg("k", "done")
    )


def test_false_runs_the_otherwise_branch() -> None:
    wf = workflow(
        process(
            "P",
            decide(
                "paid?",
                lambda d: d.flag,
                {
                    True: listen("packed", REPLIES),
                    False: command("refund", OUT, lambda d: Msg(d.key, "refund")),
                },
            ),
        )
    )
    t = start(wf, Doc("k", flag=False), now=T0)
    assert t.effects[0] == Send("OUT", "k", OUT.encode(Msg("k", "refund")), "W:k/4/1")
    assert t.effects[1:] == (Finished(Status.COMPLETED),)
    assert statuses(wf, t.instance)["packed"] is Status.SKIPPED


def test_enum_labels_pick_the_matching_branch_among_many() -> None:
    branches = {route: command(route.value, OUT, lambda d: Msg(d.key, d.route)) for route in Route}
    wf = workflow(process("P", decide("how", lambda d: Route(d.route), branches)))
    t = start(wf, Doc("k", route="sea"), now=T0)
    seen = statuses(wf, t.instance)
    assert (seen["air"], seen["sea"], seen["road"]) == (
        Status.SKIPPED,
        Status.COMPLETED,
        Status.SKIPPED,
    )
    assert t.instance.status is Status.COMPLETED


def test_an_unknown_label_fails_the_workflow_naming_the_label_and_the_choices() -> None:
    branches = {route: command(route.value, OUT, lambda d: Msg(d.key)) for route in Route}
    wf = workflow(process("P", decide("how", lambda d: d.route, branches)))
    t = start(wf, Doc("k", route="rail"), now=T0)
    assert t.instance.status is Status.FAILED
    assert t.instance.error == (
        "decide how: choose returned 'rail', which is none of its labels "
        "(<Route.AIR: 'air'>, <Route.SEA: 'sea'>, <Route.ROAD: 'road'>)"
    )
    assert statuses(wf, t.instance)["how"] is Status.FAILED
    assert t.effects == (Finished(Status.FAILED),)


def test_a_choose_that_raises_fails_the_decision_node() -> None:
    wf = workflow(process("P", decide("how", lambda d: {"x": 1}[d.route], {1: process("A")})))
    t = start(wf, Doc("k", route="nope"), now=T0)
    assert t.instance.status is Status.FAILED
    assert t.instance.error == "node how: KeyError: 'nope'"
    assert statuses(wf, t.instance)["how"] is Status.FAILED
