"""listen(...): match and fold with a lambda or a function, a timeout with its handler, keep."""

from datetime import timedelta
from typing import NewType

from attrs import evolve, frozen

from dsl import listen, process, topic, workflow

ParcelId = NewType("ParcelId", str)


@frozen
class Parcel:
    parcel_id: ParcelId
    delivered: bool = False
    lost: bool = False
    scans: int = 0


@frozen
class Scanned:
    parcel_id: ParcelId
    depot: str


@frozen
class Delivered:
    parcel_id: ParcelId


def mark_lost(p: Parcel) -> Parcel:
    return evolve(p, lost=True)


scans = topic("PARCEL_SCANNED", Scanned, key=lambda m: m.parcel_id)
deliveries = topic("PARCEL_DELIVERED", Delivered, key=lambda m: m.parcel_id)

Tracking = (
    workflow("Tracking", Parcel, key=lambda p: p.parcel_id)
    >> process("IN_TRANSIT", timeout=timedelta(days=10))
    >> listen(scans, match=lambda p: p.parcel_id, on=lambda p, e: evolve(p, scans=p.scans + 1))
    >> listen(scans, match=lambda p: p.parcel_id)
    >> listen(
        deliveries,
        match=lambda p: p.parcel_id,
        on=lambda p, e: evolve(p, delivered=True),
        timeout=timedelta(days=3),
        on_timeout=mark_lost,
    )
)
