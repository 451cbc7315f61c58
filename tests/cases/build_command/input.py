"""command(...): a lambda builder and a named one; topic keys read a NewType field or call a function."""

from typing import NewType

from attrs import frozen

from dsl import command, process, topic, workflow

AccountId = NewType("AccountId", str)


@frozen
class Account:
    account_id: AccountId
    email: str


@frozen
class Welcome:
    account_id: AccountId
    email: str


@frozen
class Audit:
    account_id: AccountId
    action: str


def audit_key(m: Audit) -> AccountId:
    return m.account_id


def audit_entry(a: Account) -> Audit:
    return Audit(a.account_id, "created")


welcomes = topic("WELCOME_EMAIL", Welcome, key=lambda m: m.account_id)
audits = topic("AUDIT_LOG", Audit, key=audit_key)

Onboarding = (
    workflow("Onboarding", Account, key=lambda a: a.account_id)
    >> process("WELCOME")
    >> command(welcomes, lambda a: Welcome(a.account_id, a.email))
    >> command(audits, audit_entry)
)
