"""How fast the pure workflow machine is: transitions per second, with and without the record codec.

Each instance runs command -> listen -> call: `start` (sends the command, waits), a
MessageArrived (completes the listener, runs the call) and a CallFinished (completes the
workflow): three transitions. Run with `.venv/bin/python -m bench.machine_speed [--instances N]`.
"""

from __future__ import annotations

import argparse
import time

import orjson
from attrs import evolve, frozen

from runtime.machine import apply, start
from runtime.record import decode, encode
from runtime.types import (
    JSON,
    Call,
    CallFinished,
    Command,
    CompiledWorkflow,
    Listen,
    MessageArrived,
    Process,
    Sequence_,
    Status,
    TopicSpec,
)


@frozen
class Order:
    order_id: str
    amount_cents: int
    paid: bool = False
    shipped: bool = False


@frozen
class Charge:
    order_id: str
    amount_cents: int


def _encode_order(o: Order) -> JSON:
    return {
        "order_id": o.order_id,
        "amount_cents": o.amount_cents,
        "paid": o.paid,
        "shipped": o.shipped,
    }


def _decode_order(j: JSON) -> Order:
    assert isinstance(j, dict)
    return Order(
        str(j["order_id"]), int(str(j["amount_cents"])), j["paid"] is True, j["shipped"] is True
    )


def _workflow() -> CompiledWorkflow[Order]:
    charges: TopicSpec[Charge] = TopicSpec(
        name="PAYMENT_COMMAND",
        key=lambda m: m.order_id,
        encode=lambda m: orjson.dumps({"order_id": m.order_id, "amount_cents": m.amount_cents}),
        decode=lambda b: Charge(**orjson.loads(b)),
    )
    payments: TopicSpec[Charge] = evolve(charges, name="PAYMENT_LISTENER")
    nodes = (
        Sequence_[Order](id=0, name="Orders", parent=-1, children=(1,)),
        Process[Order](id=1, name="PAYMENT", parent=0, children=(2, 3, 4), timeout=3600.0),
        Command[Order, Charge](
            id=2,
            name="charge",
            parent=1,
            topic=charges,
            build=lambda o: Charge(o.order_id, o.amount_cents),
        ),
        Listen[Order, Charge](
            id=3,
            name="paid",
            parent=1,
            topic=payments,
            match=lambda o: o.order_id,
            on=lambda o, m: evolve(o, paid=True),
        ),
        Call[Order](id=4, name="ship", parent=1, fn=lambda o: evolve(o, shipped=True)),
    )
    return CompiledWorkflow(
        name="Orders",
        version="bench",
        source="bench/machine_speed.py",
        state_type=Order,
        key=lambda o: o.order_id,
        encode_state=_encode_order,
        decode_state=_decode_order,
        nodes=nodes,
        topics=(charges, payments),
    )


def _run(wf: CompiledWorkflow[Order], instances: int, *, with_record: bool) -> float:
    began = time.perf_counter()
    now = 1_700_000_000.0
    for i in range(instances):
        oid = f"A{i}"
        t = start(wf, Order(oid, 1250), now=now)
        if with_record:
            instance, _ = decode(wf, encode(wf, t.instance, t.effects))
        else:
            instance = t.instance
        paid = MessageArrived(f"m{i}", "PAYMENT_LISTENER", oid, Charge(oid, 1250))
        t = apply(wf, instance, paid, now=now)
        if with_record:
            instance, _ = decode(wf, encode(wf, t.instance, t.effects))
        else:
            instance = t.instance
        t = apply(
            wf,
            instance,
            CallFinished(f"c{i}", 4, 1, state=evolve(instance.state, shipped=True)),
            now=now,
        )
        if with_record:
            encode(wf, t.instance, t.effects)
        assert t.instance.status is Status.COMPLETED
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--instances", type=int, default=20_000)
    args = parser.parse_args()
    wf = _workflow()
    _run(wf, 500, with_record=True)  # warm up
    for label, with_record in (("machine only", False), ("machine + record encode/decode", True)):
        seconds = _run(wf, args.instances, with_record=with_record)
        transitions = 3 * args.instances
        print(
            f"{label:32s} {transitions / seconds:>10,.0f} transitions/s  "
            f"{seconds / transitions * 1e6:6.1f} us/transition  "
            f"{args.instances / seconds:>8,.0f} workflows/s"
        )


if __name__ == "__main__":
    main()
