"""Correlation keys: a NewType key, and a NewType match against a plain-str key."""

from typing import NewType

from attrs import frozen

from dsl import Topic, listen, process, topic, workflow

OrderId = NewType("OrderId", str)
BoxId = NewType("BoxId", str)


@frozen
class Order:
    order_id: OrderId
    box_id: BoxId


@frozen
class BoxPacked:
    box_id: BoxId


@frozen
class Audit:
    ref: str


def audit_key(m: Audit) -> str:
    return m.ref


packed: Topic[BoxPacked, BoxId] = topic("FULFILLMENT_LISTENER", BoxPacked, key=lambda m: m.box_id)
audits = topic("AUDIT", Audit, key=audit_key)

Orders = (
    workflow("Orders", Order, key=lambda o: o.order_id)
    >> process("FULFILMENT")
    >> listen(packed, match=lambda o: o.box_id)
    >> listen(audits, match=lambda o: o.order_id)
)
