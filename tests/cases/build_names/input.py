"""Names: a lambda's free names come from the DSL module's own imports (aliased or not) and from
the module itself; a module-level name that clashes with a generated one is renamed in the copy."""

import datetime as dt
import math
from datetime import timedelta as span

from attrs import evolve, frozen

from dsl import call, process, sleep, workflow

LIMIT = 10


@frozen
class Job:
    job_id: str
    runs: int = 0
    when: dt.datetime | None = None


def apply(j: Job) -> Job:
    """Named like the generated module's `apply`: the lifted lambda calls it as `apply_2`."""
    return evolve(j, runs=j.runs + 1)


Jobs = (
    workflow("Jobs", Job, key=lambda j: j.job_id)
    >> process("RUN")
    >> call(lambda j: apply(evolve(j, runs=min(j.runs, LIMIT))))
    >> call(lambda j: evolve(j, when=dt.datetime(2030, 1, 1, tzinfo=dt.UTC)))
    >> sleep(lambda j: span(seconds=math.floor(j.runs * 1.5)))
)
