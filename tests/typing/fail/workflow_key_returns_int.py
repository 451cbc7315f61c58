"""A workflow's key names the instance: it returns a str."""

from attrs import frozen

from dsl import call, process, workflow


@frozen
class Order:
    number: int


def keep(o: Order) -> Order:
    return o


Orders = workflow("Orders", Order, key=lambda o: o.number) >> process("P") >> call(keep)  # E: Argument "key" to "workflow" has incompatible type "Callable[[Order], int]"; expected "Callable[[Order], str]"  [arg-type]  # E: Incompatible return value type (got "int", expected "str")  [return-value]
