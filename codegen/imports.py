"""The import tracker: the body asks for names while it is built; the header is written from it last.

Every name a generated module uses from elsewhere goes through `ImportTracker.name` (a
`from module import name`) or `ImportTracker.module` (an `import module`), which records the
import and returns the local name to write. Names the generated module defines itself are
reserved up front, so an import that would shadow one is given an alias instead. Type
annotations are rendered here too, since writing a type is mostly importing it.
"""

from __future__ import annotations

import ast
import builtins
import enum
import functools
import sys
import types
import typing
from collections.abc import Iterable, Iterator

from attrs import frozen

from codegen import source

_UNION_ORIGINS: tuple[object, ...] = (typing.Union, types.UnionType)


class ImportClash(Exception):
    """`import a.b` binds `a`, which something else already binds in the generated module."""


@frozen(order=True)
class Binding:
    """One imported name: `from module import name as local`, or `import module as local`."""

    module: str
    name: str | None  # None: `import module`
    local: str

    @property
    def statement_local(self) -> str | None:
        """The `as` part of the statement, or None when the statement binds `local` already."""
        if self.name is None:
            return None if self.local == self.module.split(".")[0] else self.local
        return None if self.local == self.name else self.local


class Section(enum.IntEnum):
    FUTURE = 0
    STDLIB = 1
    THIRD_PARTY = 2
    FIRST_PARTY = 3


class ImportTracker:
    """Records what a generated module imports; `header()` renders the import block (isort order)."""

    def __init__(self, first_party: Iterable[str] = (), reserved: Iterable[str] = ()) -> None:
        self._first_party = frozenset(first_party)
        self._reserved = set(reserved)
        self._owners: dict[str, str] = {}  # local name -> what it stands for
        self._bindings: set[Binding] = set()
        self._by_target: dict[tuple[str, str | None, str | None], str] = {}

    def reserve(self, *names: str) -> None:
        """Names the module defines itself; imports must not take them."""
        self._reserved.update(names)

    def is_free(self, local: str) -> bool:
        return local not in self._reserved and local not in self._owners

    def name(self, module: str, name: str, local: str | None = None) -> str:
        """`from module import name`; returns the local name (an alias when `local` is taken)."""
        key = (module, name, local)
        found = self._by_target.get(key)
        if found is not None:
            return found
        owner = f"{module}:{name}"
        wanted = local or name
        chosen = wanted
        counter = 2
        while self._owners.get(chosen) != owner and not self.is_free(chosen):
            chosen = f"{wanted}_{counter}"
            counter += 1
        self._bind(chosen, owner, Binding(module, name, chosen))
        self._by_target[key] = chosen
        return chosen

    def module(self, module: str, local: str | None = None) -> str:
        """`import module [as local]`; returns the local name the body writes.

        Raises ImportClash when that name is taken: the body refers to it as written.
        """
        chosen = local or module.split(".", maxsplit=1)[0]
        # `import a.b` and `import a.c` both bind the package `a`; `import a.b as z` binds a.b.
        owner = f"{module}:" if local else f"{chosen}:*"
        if self._owners.get(chosen, owner) != owner or chosen in self._reserved:
            raise ImportClash(f"'{chosen}' (import {module}) is already a name in the module")
        self._bind(chosen, owner, Binding(module, None, chosen))
        return chosen

    def _bind(self, local: str, owner: str, binding: Binding) -> None:
        self._owners[local] = owner
        self._bindings.add(binding)

    def bindings(self) -> tuple[Binding, ...]:
        return tuple(sorted(self._bindings))

    # ------------------------------------------------------------------ the header

    def section(self, module: str) -> Section:
        top = module.split(".", maxsplit=1)[0]
        if top == "__future__":
            return Section.FUTURE
        if top in sys.stdlib_module_names:
            return Section.STDLIB
        if top in self._first_party:
            return Section.FIRST_PARTY
        return Section.THIRD_PARTY

    def header(self) -> tuple[str, ...]:
        """The import block: sections apart, `import x` before `from x import y`, names sorted."""
        lines: list[str] = []
        for section in Section:
            block = self._section_lines(section)
            if block and lines:
                lines.append("")
            lines.extend(block)
        return tuple(lines)

    def _section_lines(self, section: Section) -> list[str]:
        plain: set[str] = set()
        froms: dict[str, set[str]] = {}
        for binding in self._bindings:
            if self.section(binding.module) is not section:
                continue
            alias = binding.statement_local
            if binding.name is None:
                plain.add(binding.module + (f" as {alias}" if alias else ""))
            else:
                text = binding.name + (f" as {alias}" if alias else "")
                froms.setdefault(binding.module, set()).add(text)
        lines = [f"import {m}" for m in sorted(plain, key=_module_key)]
        for module in sorted(froms, key=_module_key):
            names = ", ".join(sorted(froms[module], key=member_key))
            lines.append(f"from {module} import {names}")
        return lines

    # ------------------------------------------------------------------ type annotations

    def annotation(self, tp: object) -> str:
        """The source text of a type, importing what it names. Raises TypeError when unsupported."""
        if tp is None or tp is type(None):
            return "None"
        if tp is typing.Any:
            return self.name("typing", "Any")
        origin = typing.get_origin(tp)
        if origin is not None:
            return self._generic(origin, typing.get_args(tp))
        if isinstance(tp, typing.NewType):
            return self.qualified(tp.__module__, tp.__name__)
        if isinstance(tp, type):
            return self.qualified(tp.__module__, tp.__qualname__)
        raise TypeError(f"cannot write the type {tp!r}")

    def _generic(self, origin: object, args: tuple[object, ...]) -> str:
        if origin in _UNION_ORIGINS:
            return " | ".join(self.annotation(a) for a in args)
        if origin is typing.Literal:
            return f"{self.name('typing', 'Literal')}[{', '.join(repr(a) for a in args)}]"
        base = self.annotation(origin)
        if not args:
            return base
        parts = ["..." if a is Ellipsis else self.annotation(a) for a in args]
        return f"{base}[{', '.join(parts)}]"

    def qualified(self, module: str, qualname: str) -> str:
        """A module-level object (or an attribute of one, for nested classes) by its qualname."""
        if "<locals>" in qualname:
            raise TypeError(
                f"{module}.{qualname} is defined inside a function; it cannot be imported"
            )
        head, _, rest = qualname.partition(".")
        if module == "builtins" and hasattr(builtins, head):
            local = head
        else:
            local = self.name(module, head)
        return f"{local}.{rest}" if rest else local


def _module_key(module: str) -> tuple[str, str]:
    return (module.lower(), module)


def member_key(text: str) -> tuple[int, str, str]:
    """isort's order-by-type: CONSTANTS, then Classes, then functions and variables."""
    name = text.split(" as ", maxsplit=1)[0]
    if name.isupper() and len(name) > 1:
        kind = 0
    elif name[:1].isupper():
        kind = 1
    else:
        kind = 2
    return (kind, name.lower(), text)


# ---------------------------------------------------------------------- what a DSL module binds


@frozen
class ScopeBinding:
    """Where a module-level name of a DSL module comes from, as an import the generated module
    can repeat: `from module import name`, or `import module [as asname]` when `name` is None."""

    module: str
    name: str | None
    asname: str | None = None


@frozen
class ModuleScope:
    bindings: dict[str, ScopeBinding]
    star: bool  # a `from x import *` may bind names the statements do not show

    def get(self, name: str) -> ScopeBinding | None:
        return self.bindings.get(name)


@functools.lru_cache(maxsize=64)
def module_scope(file: str, module: str, package: str) -> ModuleScope:
    """The module-level names of a DSL file: its imports (read from its import statements) and
    what it defines itself. The last binding of a name wins, as when Python runs the module."""
    tree = source.module_ast(file)
    bindings: dict[str, ScopeBinding] = {}
    star = False
    for statement in _top_level(tree.body if tree else []):
        if isinstance(statement, ast.Import):
            for alias in statement.names:
                local = alias.asname or alias.name.split(".")[0]
                bindings[local] = ScopeBinding(alias.name, None, alias.asname)
        elif isinstance(statement, ast.ImportFrom):
            origin = _absolute(statement, package)
            for alias in statement.names:
                if alias.name == "*":
                    star = True
                else:
                    bindings[alias.asname or alias.name] = ScopeBinding(origin, alias.name)
        else:
            for name in _defined(statement):
                bindings[name] = ScopeBinding(module, name)
    return ModuleScope(bindings, star)


def _top_level(statements: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Module-level statements, including those inside module-level if/try/with blocks."""
    for statement in statements:
        if isinstance(statement, ast.If | ast.With):
            yield from _top_level(statement.body)
            if isinstance(statement, ast.If):
                yield from _top_level(statement.orelse)
        elif isinstance(statement, ast.Try):
            for block in (statement.body, *(h.body for h in statement.handlers)):
                yield from _top_level(block)
            yield from _top_level(statement.orelse)
            yield from _top_level(statement.finalbody)
        else:
            yield statement


def _absolute(statement: ast.ImportFrom, package: str) -> str:
    if not statement.level:
        return statement.module or ""
    parts = package.split(".") if package else []
    base = ".".join(parts[: len(parts) - (statement.level - 1)])
    if statement.module:
        return f"{base}.{statement.module}" if base else statement.module
    return base


def _defined(statement: ast.stmt) -> Iterator[str]:
    if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        yield statement.name
        return
    targets: list[ast.expr] = []
    if isinstance(statement, ast.Assign):
        targets = list(statement.targets)
    elif isinstance(statement, ast.AnnAssign | ast.AugAssign | ast.For | ast.AsyncFor):
        targets = [statement.target]
    for target in targets:
        for node in ast.walk(target):
            if isinstance(node, ast.Name):
                yield node.id
