"""Field types the generated codecs can encode, found recursively, reported where written."""

from __future__ import annotations

import enum
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Literal, NewType, Optional
from uuid import UUID

from attrs import frozen

from codegen.checks.encoding import field_location, problems
from codegen.checks.typeinfo import type_name
from dsl import call, command, process, topic, workflow

from .support import codes, run

Sku = NewType("Sku", str)
Tags = NewType("Tags", set[Decimal])


class Colour(enum.Enum):
    RED = 1


@frozen
class Everything:
    text: str
    number: int
    ratio: float
    flag: bool
    raw: bytes
    money: Decimal
    at: datetime
    day: date
    ident: UUID
    colour: Colour
    sku: Sku
    mode: Literal["a", "b", 3, True]
    maybe: int | None
    maybe_old: Optional[str]  # noqa: UP045 - the spelling older code uses must be accepted too
    many: list[Sku]
    wait: timedelta
    row: tuple[Decimal, ...]
    unique: frozenset[str]
    skus: set[Sku]
    modes: frozenset[Literal["a", "b"]]
    table: dict[str, list[int]]
    by_sku: dict[Sku, int]


@frozen
class Tree:
    """A recursive type: fine, and checking it must terminate."""

    name: str
    children: tuple[Tree, ...] = ()
    parent: Tree | None = None


@frozen
class Line:
    sku: frozenset[Colour]
    tags: Tags
    size: tuple[int, int]


@frozen
class Basket:
    lines: list[Line]
    by_name: dict[str, Line]
    pairs: dict[int, str]
    either: int | str
    loose: list  # type: ignore[type-arg]  # the mistake under test
    when: Literal[Colour.RED]


@frozen
class Base:
    bad: set[bytes]


@frozen
class Derived(Base):
    good: int = 0


def _found(cls: type) -> list[tuple[str, str, str]]:
    return [(p.path, type_name(p.tp), p.reason) for p in problems(cls)]


def test_plain_data_of_every_allowed_kind_encodes() -> None:
    assert _found(Everything) == []
    assert _found(Tree) == []


def test_each_problem_names_its_path_type_and_reason() -> None:
    unsorted = "set elements must be str, int, float or bool, to encode in order"
    fixed = "only variable-length tuples, tuple[X, ...], can be encoded"
    assert _found(Basket) == [
        ("Basket.lines[].sku", "frozenset[Colour]", unsorted),
        ("Basket.lines[].tags", "set[Decimal]", unsorted),
        ("Basket.lines[].size", "tuple[int, int]", fixed),
        ("Basket.by_name{}.sku", "frozenset[Colour]", unsorted),
        ("Basket.by_name{}.tags", "set[Decimal]", unsorted),
        ("Basket.by_name{}.size", "tuple[int, int]", fixed),
        ("Basket.pairs", "dict[int, str]", "dict keys must be str"),
        ("Basket.either", "int | str", "only optional values, X | None, can be encoded"),
        ("Basket.loose", "list", "name its element types, e.g. list[str]"),
        (
            "Basket.when",
            "Literal[Colour.RED]",
            "Literal values must be str, int, float, bool or None",
        ),
    ]


def test_a_problem_points_at_the_annotation_even_in_a_base_class() -> None:
    here = Path(__file__).read_text().splitlines()
    where = field_location(Derived, "bad")
    assert where is not None and where.file == __file__
    assert here[where.line - 1][where.column : where.end_column] == "set[bytes]"


def test_a_class_reached_twice_is_reported_once_from_the_first_root() -> None:
    lines = topic("LINES", Line, key=lambda m: "k")
    wf = (
        workflow("W", Basket, key=lambda b: "k")
        >> process("P")
        >> command(lines, lambda b: b.lines[0])
        >> call(lambda b: b)
    )
    found = [d for d in run(wf) if d.code == "DGR203"]
    messages = [d.message.split(":")[0] for d in found]
    assert messages == [
        "Basket.lines[].sku",
        "Basket.lines[].tags",
        "Basket.lines[].size",
        "Basket.pairs",
        "Basket.either",
        "Basket.loose",
        "Basket.when",
    ]
    assert all(d.hint and "Decimal" in d.hint for d in found)


def test_state_and_messages_of_a_clean_workflow_pass() -> None:
    trees = topic("TREES", Tree, key=lambda m: m.name)
    wf = (
        workflow("W", Everything, key=lambda e: e.text)
        >> process("P")
        >> command(trees, lambda e: Tree(e.text))
    )
    assert "DGR203" not in codes(run(wf))
