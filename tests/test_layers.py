"""The import rules of `src/yizhan` (docs/architecture.md "Layers"), checked on the source.

Every `import` and `from ... import` of every module is read with `ast`: at module level and
inside functions and methods, relative imports resolved. Three rules:

1. **No import cycle** between modules. An import under `if TYPE_CHECKING:` never runs, so it
   cannot close a cycle and is left out of this rule (the policy rules name
   `policy.chain.SendContext` that way, while `chain` imports them); it still states a
   dependency, so rules 2 and 3 apply to it.
2. **Dependencies point down.** Each module lives in a room (`ROOMS`: a package, or a module
   at the root). A room imports its own modules, any room of a lower layer (`LAYERS`, top to
   bottom) and, within its own layer, only the siblings `SIBLINGS` names: dispatch may not
   import webhooks, nor receipts dispatch. `UPWARD` names the one import to a higher layer:
   the CLI builds through the composition root. `storage/`, `backends/` and `settings.py` stand
   beside the layers: `OUTSIDE` says who may import them and what they import.
3. **No private name** (`_x`) imported from another module.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# ---- the architecture, as data ----------------------------------------------------------

LAYERS: list[set[str]] = [
    {"app.py", "__main__.py"},  # the composition root: may import anything
    {"api/", "api/aliyun/", "api/rest/", "console/", "cli/"},  # the ways in
    {"intake/", "tasks/", "stages.py", "diagnosis/"},  # the pipeline
    {"policy/", "compliance/", "dispatch/", "dispatch/channels/", "receipts/", "webhooks/",
     "records/", "simulator/"},  # the stages' parts
    {"runtime/"},  # helpers every stage may use
    {"domain/", "__init__.py"},  # the vocabulary; the package's __init__.py is its version
]
"""Top to bottom: a room may import any room of a lower layer."""

SIBLINGS: dict[str, set[str]] = {
    "api/": {"api/aliyun/", "api/rest/"},  # app.py mounts both
    "api/aliyun/": {"api/"},  # the shared HTTP parts: auth, errors, limits, throttle
    "api/rest/": {"api/"},
    "console/": {"api/"},  # the pages call the API's services (ApiServices), not a 2nd path
    "stages.py": {"intake/"},  # the pipeline runs intake's group commit
    "tasks/": {"intake/"},  # a send task's chunks take intake's acceptance path
    "policy/": {"compliance/"},  # sending checks read the compliance rules (registration)
    "dispatch/": {"dispatch/channels/"},
    "simulator/": {"dispatch/channels/"},  # the SMPP codec and link, the simulator's script
}
"""The imports allowed within one layer; every other pair of siblings is refused."""

UPWARD: dict[str, set[str]] = {
    "cli/": {"app.py"},  # the operator's commands build what they need through app.py
}
"""The imports allowed to a higher layer."""

ROOT = "app.py", "__main__.py"
OUTSIDE: dict[str, tuple[set[str], set[str]]] = {
    # room: (who may import it, what it may import)
    "storage/": ({*ROOT, "cli/"}, {"domain/", "runtime/", "__init__.py"}),
    "backends/": ({*ROOT, "cli/"}, {"domain/", "runtime/", "__init__.py"}),
    "settings.py": ({*ROOT, "cli/"}, {"domain/", "__init__.py"}),
}
"""`storage/` and `backends/` implement `domain/ports.py`: only the composition root builds
them, and the operator CLI, which opens the store. A stage declares the protocol it needs.
`settings.py` is read where things are built, and passed down as values."""

ROOMS = {room for layer in LAYERS for room in layer} | set(OUTSIDE)

# ---- reading the imports ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Module:
    name: str
    """Dotted: `yizhan.api.rest.frequency`."""
    path: str
    """Relative to the package's folder: `api/rest/frequency.py`."""
    package: bool


@dataclass(frozen=True, slots=True)
class Import:
    importer: str
    line: int
    target: str
    """The module imported, or the module a name is taken from."""
    name: str | None
    """The name taken from `target` when it is not a module itself."""
    typing_only: bool
    """Under `if TYPE_CHECKING:`: never runs."""


def modules(src: Path, package: str = "yizhan") -> dict[str, Module]:
    found = {}
    for path in sorted((src / package).rglob("*.py")):
        relative = path.relative_to(src / package)
        parts = [package, *relative.with_suffix("").parts]
        is_package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_package else parts)
        found[name] = Module(name, relative.as_posix(), is_package)
    return found


def _typing_only(test: ast.expr) -> bool:
    return ((isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
            or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


class _Walker(ast.NodeVisitor):
    def __init__(self, module: Module, known: dict[str, Module]) -> None:
        self.module, self.known = module, known
        self.found: list[Import] = []
        self.typing_only = False

    def visit_If(self, node: ast.If) -> None:
        if not _typing_only(node.test):
            self.generic_visit(node)
            return
        before, self.typing_only = self.typing_only, True
        for child in node.body:
            self.visit(child)
        self.typing_only = before
        for child in node.orelse:
            self.visit(child)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name in self.known:
                self._add(node, alias.name, None)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = self._absolute(node)
        if base not in self.known:
            return  # another distribution's module
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            if submodule in self.known:
                self._add(node, submodule, None)
            else:
                self._add(node, base, alias.name)

    def _absolute(self, node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        parts = self.module.name.split(".")
        package = parts if self.module.package else parts[:-1]
        package = package[:len(package) - node.level + 1]
        return ".".join(package + ([node.module] if node.module else []))

    def _add(self, node: ast.stmt, target: str, name: str | None) -> None:
        self.found.append(Import(self.module.name, node.lineno, target, name,
                                 self.typing_only))


def imports(src: Path, package: str = "yizhan") -> tuple[dict[str, Module], list[Import]]:
    known = modules(src, package)
    found = []
    for module in known.values():
        walker = _Walker(module, known)
        walker.visit(ast.parse((src / package / module.path).read_text(), module.path))
        found += walker.found
    return known, found


@pytest.fixture(scope="module")
def graph() -> tuple[dict[str, Module], list[Import]]:
    return imports(SRC)


# ---- rule 1: cycles ---------------------------------------------------------------------


def edges_of(found: Iterable[Import]) -> dict[str, set[str]]:
    """Module -> the modules it imports when it runs (TYPE_CHECKING imports left out)."""
    edges: dict[str, set[str]] = {}
    for i in found:
        if not i.typing_only and i.target != i.importer:
            edges.setdefault(i.importer, set()).add(i.target)
    return edges


def tangles(edges: dict[str, set[str]]) -> list[set[str]]:
    """The groups of modules that import one another, directly or not: the strongly
    connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for after in sorted(edges.get(node, ())):
            if after not in index:
                connect(after)
                low[node] = min(low[node], low[after])
            elif after in stack:
                low[node] = min(low[node], index[after])
        if low[node] == index[node]:
            group = set()
            while (member := stack.pop()) != node:
                group.add(member)
            group.add(node)
            if len(group) > 1:
                groups.append(group)

    for node in sorted(edges):
        if node not in index:
            connect(node)
    return groups


def cycles(found: Iterable[Import]) -> list[list[str]]:
    """One cycle (a path that ends where it starts) per tangle, from its first module in
    name order."""
    edges = edges_of(found)
    return [_path_around(min(group), group, edges) for group in tangles(edges)]


def _path_around(start: str, group: set[str], edges: dict[str, set[str]]) -> list[str]:
    """The shortest way from `start` back to itself inside `group` (breadth first)."""
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for after in sorted(edges.get(node, set()) & group):
                if after == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [*reversed(path), start]
                if after not in came_from:
                    came_from[after] = node
                    following.append(after)
        frontier = following
    raise AssertionError(f"{start} is in no cycle of {sorted(group)}")


def test_no_import_cycles(graph: tuple[dict[str, Module], list[Import]]) -> None:
    found = [" -> ".join(cycle) for cycle in cycles(graph[1])]
    assert not found, "import cycles (module level or inside functions):\n" + "\n".join(found)


# ---- rule 2: layers ---------------------------------------------------------------------


def room_of(path: str) -> str | None:
    """The room of a module, by its path in the package: a module at the root is a room of
    its own, else the longest room that is a folder holding it."""
    holding = [room for room in ROOMS
               if room == path or (room.endswith("/") and path.startswith(room))]
    return max(holding, key=len, default=None)


def layer(room: str) -> int:
    return next(n for n, rooms in enumerate(LAYERS) if room in rooms)


def allowed(importer: str, imported: str) -> bool:
    """Whether room `importer` may import room `imported`."""
    if importer == imported:
        return True
    if importer in OUTSIDE:
        return imported in OUTSIDE[importer][1]
    if imported in OUTSIDE:
        return importer in OUTSIDE[imported][0]
    return (layer(imported) > layer(importer)
            or imported in SIBLINGS.get(importer, set()) | UPWARD.get(importer, set()))


def test_every_module_has_a_room(graph: tuple[dict[str, Module], list[Import]]) -> None:
    homeless = [m.path for m in graph[0].values() if room_of(m.path) is None]
    assert not homeless, f"modules in no room of LAYERS or OUTSIDE: {homeless}"


def upward(known: dict[str, Module], found: Iterable[Import]) -> list[str]:
    wrong = set()
    for i in found:
        importer = room_of(known[i.importer].path)
        imported = room_of(known[i.target].path)
        if importer and imported and not allowed(importer, imported):
            wrong.add(f"{i.importer}:{i.line} imports {i.target}: "
                      f"{importer} may not import {imported}")
    return sorted(wrong)


def test_dependencies_point_down(graph: tuple[dict[str, Module], list[Import]]) -> None:
    wrong = upward(*graph)
    assert not wrong, "imports the layers do not allow:\n" + "\n".join(wrong)


@pytest.mark.parametrize(("importer", "imported", "verdict"), [
    ("app.py", "storage/", True),
    ("cli/", "storage/", True),
    ("api/rest/", "storage/", False),  # the API receives its store through a protocol
    ("intake/", "backends/", False),
    ("dispatch/", "settings.py", False),  # settings are passed down as values
    ("dispatch/", "webhooks/", False),  # siblings, not allowed by SIBLINGS
    ("dispatch/", "simulator/", False),  # the simulator is a server of its own
    ("simulator/", "dispatch/channels/", True),
    ("simulator/", "dispatch/", False),
    ("dispatch/channels/", "dispatch/", False),
    ("cli/", "api/rest/", False),  # what both ways in share lives below them
    ("console/", "api/", True),
    ("console/", "storage/", False),  # the console reads the store through protocols
    ("api/", "console/", False),  # the composition root mounts the console
    ("cli/", "app.py", True),
    ("api/", "app.py", False),
    ("domain/", "runtime/", False),
    ("runtime/", "domain/", True),
    ("storage/", "policy/", False),
])
def test_the_table_reads_as_the_architecture(importer: str, imported: str,
                                             verdict: bool) -> None:
    assert allowed(importer, imported) is verdict


MAY_IMPORT = re.compile(r"May import (?P<may>.*?)(?:; not (?P<not>.*?))?(?:[.:;](?:\s|$)|$)")
ROOM_NAME = re.compile(r"`([\w./]+)`")


def test_each_package_says_what_it_may_import(
        graph: tuple[dict[str, Module], list[Import]]) -> None:
    """Its `__init__.py` docstring has a "May import ..." sentence; the rooms it names as
    importable the table allows, and those after "; not" it refuses."""
    wrong = []
    for module in graph[0].values():
        if not module.package or module.name == "yizhan":
            continue
        text = ast.get_docstring(ast.parse((SRC / "yizhan" / module.path).read_text())) or ""
        said = MAY_IMPORT.search(" ".join(text.split()))
        room = room_of(module.path)
        if said is None or room is None:
            wrong.append(f"{module.path}: no \"May import ...\" in its docstring")
            continue
        for verdict, part in ((True, said["may"]), (False, said["not"] or "")):
            wrong += [f"{module.path}: says {room} may{'' if verdict else ' not'} import "
                      f"{named}" for named in ROOM_NAME.findall(part)
                      if named in ROOMS and allowed(room, named) is not verdict]
    assert not wrong, "\n".join(wrong)


# ---- rule 3: private names --------------------------------------------------------------


def private(name: str) -> bool:
    return name.startswith("_") and not name.endswith("__")


def private_imports(found: Iterable[Import]) -> list[tuple[str, str, str]]:
    return sorted({(i.importer, i.target, i.name) for i in found
                   if i.name is not None and private(i.name) and i.target != i.importer})


def test_no_private_names_imported_across_modules(
        graph: tuple[dict[str, Module], list[Import]]) -> None:
    wrong = [f"{importer} imports {name} from {target}"
             for importer, target, name in private_imports(graph[1])]
    assert not wrong, "private names imported from another module:\n" + "\n".join(wrong)


# ---- synthetic trees: the test catches what it should -------------------------------------


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def test_the_reader_finds_imports_in_functions_relative_and_typing_only(
        tmp_path: Path) -> None:
    src = write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from typing import TYPE_CHECKING\n"
                    "if TYPE_CHECKING:\n    from pkg.c import C\n"
                    "def f():\n    from .sub import b\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/b.py": "class K:\n    def m(self):\n        from ..c import _hidden\n",
        "pkg/c.py": "import pkg.a\nfrom os import path\n",
    })
    known, found = imports(src, "pkg")
    assert {(i.importer, i.target, i.name, i.typing_only) for i in found} == {
        ("pkg.a", "pkg.c", "C", True),
        ("pkg.a", "pkg.sub.b", None, False),
        ("pkg.sub.b", "pkg.c", "_hidden", False),
        ("pkg.c", "pkg.a", None, False),
    }
    # a -> sub.b -> c -> a, all inside functions; the TYPE_CHECKING a -> c is no cycle
    assert cycles(found) == [["pkg.a", "pkg.sub.b", "pkg.c", "pkg.a"]]
    assert private_imports(found) == [("pkg.sub.b", "pkg.c", "_hidden")]
    assert known["pkg.sub"].package and known["pkg.sub.b"].path == "sub/b.py"


def test_an_upward_import_is_reported_with_its_line(tmp_path: Path) -> None:
    src = write(tmp_path, {
        "yizhan/__init__.py": "",
        "yizhan/domain/__init__.py": "",
        "yizhan/domain/model.py": "import os\n\nfrom yizhan.storage import tables\n",
        "yizhan/storage/__init__.py": "",
        "yizhan/storage/tables.py": "from yizhan.domain.model import X\n",
    })
    assert upward(*imports(src)) == [
        "yizhan.domain.model:3 imports yizhan.storage.tables: domain/ may not import storage/"]
