"""A topic's key is a str or a NewType of str (K is bound to str)."""

from attrs import frozen

from dsl import topic


@frozen
class Charge:
    number: int


charges = topic("PAYMENT_COMMAND", Charge, key=lambda m: m.number)  # E: Value of type variable "K" of "topic" cannot be "int"  [type-var]
