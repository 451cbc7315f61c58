"""The import tracker: names as the body asks for them, aliases on clashes, an isort-ordered
header, and type annotations written with exactly the imports they need."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, NewType

import pytest
from attrs import frozen

from codegen.imports import ImportClash, ImportTracker, module_scope

Sku = NewType("Sku", str)


class Size(enum.Enum):
    S = "s"


@frozen
class Outer:
    @frozen
    class Inner:
        x: int


def test_a_name_is_imported_once_and_aliased_when_taken() -> None:
    tracker = ImportTracker(reserved={"apply"})
    assert tracker.name("shop.models", "Order") == "Order"
    assert tracker.name("shop.models", "Order") == "Order"
    assert tracker.name("billing.models", "Order") == "Order_2"
    assert tracker.name("shop.flows", "apply") == "apply_2"
    assert tracker.header() == (
        "from billing.models import Order as Order_2",
        "from shop.flows import apply as apply_2",
        "from shop.models import Order",
    )


def test_the_header_groups_stdlib_third_party_and_first_party_in_isort_order() -> None:
    tracker = ImportTracker(first_party={"shop"})
    tracker.name("shop.models", "order_key")
    tracker.name("shop.models", "Order")
    tracker.name("shop.models", "MAX")
    tracker.name("attrs", "evolve")
    tracker.module("datetime", "dt")
    tracker.name("datetime", "timedelta")
    tracker.module("os.path")
    assert tracker.header() == (
        "import datetime as dt",
        "import os.path",
        "from datetime import timedelta",
        "",
        "from attrs import evolve",
        "",
        "from shop.models import MAX, Order, order_key",
    )


def test_a_module_import_that_would_shadow_a_name_is_refused() -> None:
    tracker = ImportTracker(reserved={"os"})
    with pytest.raises(ImportClash, match=r"'os' \(import os\.path\) is already a name"):
        tracker.module("os.path")
    tracker.module("json")
    tracker.module("json")  # the same import twice is one import
    assert tracker.header() == ("import json",)


@pytest.mark.parametrize(
    ("tp", "text", "imports"),
    [
        (int, "int", ()),
        (list[dict[str, int]], "list[dict[str, int]]", ()),
        (tuple[Sku, ...], "tuple[Sku, ...]", (f"from {__name__} import Sku",)),
        (Decimal | None, "Decimal | None", ("from decimal import Decimal",)),
        (Literal["a", "b"], "Literal['a', 'b']", ("from typing import Literal",)),
        (Outer.Inner, "Outer.Inner", (f"from {__name__} import Outer",)),
        (
            dict[Size, datetime],
            "dict[Size, datetime]",
            ("from datetime import datetime", "", f"from {__name__} import Size"),
        ),
        (Any, "Any", ("from typing import Any",)),
    ],
)
def test_annotations_import_what_they_name(tp: object, text: str, imports: tuple[str, ...]) -> None:
    tracker = ImportTracker(first_party={__name__})
    assert tracker.annotation(tp) == text
    assert tracker.header() == imports


def test_a_type_defined_in_a_function_cannot_be_imported() -> None:
    @frozen
    class Local:
        x: int

    with pytest.raises(TypeError, match="defined inside a function"):
        ImportTracker().annotation(Local)


def test_module_scope_reads_imports_and_definitions_last_binding_first(tmp_path: Any) -> None:
    file = tmp_path / "flows.py"
    file.write_text(
        "import datetime as dt\n"
        "import os.path\n"
        "from . import models\n"
        "from .models import Order as O, helper\n"
        "from shop.util import *\n"
        "if True:\n"
        "    LIMIT = 3\n"
        "def helper(x): return x\n"
        "class Thing: pass\n",
        encoding="utf-8",
    )
    scope = module_scope(str(file), "shop.flows", "shop")
    assert scope.star
    got = {name: (b.module, b.name, b.asname) for name, b in scope.bindings.items()}
    assert got == {
        "dt": ("datetime", None, "dt"),
        "os": ("os.path", None, None),
        "models": ("shop", "models", None),
        "O": ("shop.models", "Order", None),
        "helper": ("shop.flows", "helper", None),  # redefined after its import
        "LIMIT": ("shop.flows", "LIMIT", None),
        "Thing": ("shop.flows", "Thing", None),
    }
