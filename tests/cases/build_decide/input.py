"""decide(...): a predicate with then/otherwise, Enum and str labels, flows and single steps."""

import enum

from attrs import evolve, frozen

from dsl import call, decide, fail, process, workflow


class Tier(enum.Enum):
    FREE = "free"
    PRO = "pro"


@frozen
class Signup:
    user: str
    tier: Tier
    country: str
    verified: bool = False


def verify(s: Signup) -> Signup:
    return evolve(s, verified=True)


def region(s: Signup) -> str:
    return "eu" if s.country in ("DE", "FR") else "other"


pro_flow = process("PRO_SETUP", state=Signup) >> call(verify) >> call(verify)

Signups = (
    workflow("Signups", Signup, key=lambda s: s.user)
    >> process("ROUTE")
    >> decide(lambda s: s.verified, then=call(verify), otherwise=fail("not verified"))
    >> decide(lambda s: s.tier, branches={Tier.FREE: call(verify), Tier.PRO: pro_flow})
    >> decide(region, branches={"eu": call(verify), "other": call(verify)})
)
