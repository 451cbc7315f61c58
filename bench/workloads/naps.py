"""A workflow that sleeps 100 ms: the bench measures how late such timers fire under load."""

from __future__ import annotations

from datetime import timedelta

from attrs import frozen

from dsl import process, sleep, workflow


@frozen
class Nap:
    nap_id: str


Naps = (
    workflow("Naps", Nap, key=lambda n: n.nap_id)
    >> process("NAP")
    >> sleep(timedelta(milliseconds=100))
)
