"""The packages keep their layers: nothing imports upward, no import cycle, no private name
used across modules, and no import hidden inside a function without a reason.

The layers (``ARCHITECTURE.md``), bottom first::

    emulator core   emulator.kernel, .trace, .tracespill, .units, .checks, .rtc, .userinput
      <- stack      stack.*
      <- smtp       smtp.*
      <- emulator board/firmware   every other emulator module
      <- scenarios  scenarios.*

A module may import its own layer and the layers below. Every import counts, wherever it
is written: at the top, inside a function, or under ``if TYPE_CHECKING:`` (a type-only
import is still a dependency a reader must follow, and a cycle through it is still a
cycle). An import names the most specific module that exists: ``from scenarios.server
import replies`` is an edge to ``scenarios.server.replies``; a package's ``__init__`` is
the package's own module.

The rules, each reported with every violation it finds (never stopping at the first):

- **layers**: an import from a layer above;
- **cycles**: a set of modules that import one another, directly or through others
  (including inside one package);
- **private names**: ``from m import _x``, ``m._x`` on an imported module ``m``, or
  ``obj._x`` where ``_x`` is defined by another module of the project and not by this
  one (a collaborator reaching into another module's private members);
- **size**: no module over 600 lines;
- **imports inside functions**: allowed only with a comment saying it saves start-up
  time (``start-up``), as measured: on the import's line or right above it (the
  comments and imports just above count, so one comment serves a group of imports).

This module knows Python's ``ast`` and the package layout; it imports nothing of the
project.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parents[1]
PACKAGES: Final = ("emulator", "stack", "smtp", "scenarios")
CORE: Final = frozenset({"emulator.kernel", "emulator.trace", "emulator.tracespill",
                         "emulator.units", "emulator.checks", "emulator.rtc",
                         "emulator.userinput"})
"""The emulator core: the bottom layer, below the stack."""
LAYER_NAMES: Final = ("emulator core", "stack", "smtp", "emulator board/firmware", "scenarios")
START_UP_WORDS: Final = ("start-up", "startup")
"""A comment with one of these justifies an import inside a function."""


def layer_of(module: str) -> int:
    """The layer of a project module: 0 (bottom, the emulator core) to 4 (scenarios)."""
    top = module.split(".")[0]
    if top == "emulator":
        return 0 if _in(module, CORE) else 3
    return {"stack": 1, "smtp": 2, "scenarios": 4}[top]


def _in(module: str, names: frozenset[str]) -> bool:
    return any(module == n or module.startswith(n + ".") for n in names)


@dataclass
class Module:
    """One project module: its name, file, the modules it imports (with the line of
    each) and what the checks need of its syntax tree."""

    name: str
    path: Path
    tree: ast.Module
    imports: dict[str, int] = field(default_factory=dict)
    defined: set[str] = field(default_factory=set)
    """Private names (``_x``) this module defines: functions, classes, attributes."""

    @property
    def shown(self) -> str:
        path = self.path
        return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Module]:
    """Every module of the four packages, by dotted name."""
    modules: dict[str, Module] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = _module_name(path)
            modules[name] = Module(name, path, ast.parse(path.read_text(), str(path)))
    for module in modules.values():
        module.imports = _imports(module, modules)
        module.defined = _private_definitions(module.tree)
    return modules


def _resolve(module: Module, node: ast.ImportFrom) -> str:
    """The absolute module a ``from ... import`` names (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    package = module.name.split(".")
    if module.path.name != "__init__.py":
        package.pop()
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _most_specific(name: str, modules: dict[str, Module]) -> str | None:
    """``name`` or its nearest parent that is a project module."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def _imports(module: Module, modules: dict[str, Module]) -> dict[str, int]:
    """Project modules imported anywhere in ``module``, with the first line of each."""
    found: dict[str, int] = {}

    def add(name: str, line: int) -> None:
        target = _most_specific(name, modules)
        if target is not None and target != module.name:
            found.setdefault(target, line)

    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, node)
            for alias in node.names:
                add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base,
                    node.lineno)
    return found


def _private_definitions(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.add(node.value)  # __slots__ = ("_x",), getattr(obj, "_x")
    return {n for n in names if _is_private(n)}


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


# ----------------------------------------------------------------------------------------
# The checks: each yields one line per violation


def layer_violations(modules: dict[str, Module]) -> Iterator[str]:
    for module in modules.values():
        own = layer_of(module.name)
        for target, line in sorted(module.imports.items()):
            if layer_of(target) > own:
                yield (f"{module.shown}:{line}: {module.name} ({LAYER_NAMES[own]}) imports "
                       f"{target} ({LAYER_NAMES[layer_of(target)]}), a layer above")


def import_cycles(modules: dict[str, Module]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = 0

    def visit(start: str) -> None:  # iterative: no recursion limit on deep chains
        nonlocal counter
        work: list[tuple[str, Iterator[str]]] = []

        def enter(name: str) -> None:
            nonlocal counter
            index[name] = low[name] = counter
            counter += 1
            stack.append(name)
            on_stack.add(name)
            work.append((name, iter(sorted(modules[name].imports))))

        enter(start)
        while work:
            name, targets = work[-1]
            for target in targets:
                if target not in index:
                    enter(target)
                    break
                if target in on_stack:
                    low[name] = min(low[name], index[target])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[name])
                if low[name] == index[name]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == name:
                            break
                    if len(component) > 1:
                        cycles.append(sorted(component))

    for name in sorted(modules):
        if name not in index:
            visit(name)
    return sorted(cycles)


def cycle_violations(modules: dict[str, Module]) -> Iterator[str]:
    for component in import_cycles(modules):
        members = set(component)
        edges = [f"{a} -> {b} (line {modules[a].imports[b]})" for a in component
                 for b in sorted(modules[a].imports) if b in members]
        yield f"import cycle among {', '.join(component)}: {'; '.join(edges)}"


def _module_aliases(module: Module, modules: dict[str, Module]) -> dict[str, str]:
    """Local names bound to project modules by imports (``import a.b as c``,
    ``from a import b`` when ``a.b`` is a module)."""
    aliases: dict[str, str] = {}
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules and (alias.asname or "." not in alias.name):
                    aliases[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, node)
            for alias in node.names:
                if f"{base}.{alias.name}" in modules:
                    aliases[alias.asname or alias.name] = f"{base}.{alias.name}"
    return aliases


def private_violations(modules: dict[str, Module]) -> Iterator[str]:
    """Each module's findings in line order."""
    defined_by: dict[str, set[str]] = {}
    for module in modules.values():
        for name in module.defined:
            defined_by.setdefault(name, set()).add(module.name)
    for module in modules.values():
        found = sorted(_private_uses(module, modules, defined_by), key=lambda f: f[0])
        yield from (f"{module.shown}:{line}: {what}" for line, what in found)


def _private_uses(module: Module, modules: dict[str, Module],
                  defined_by: dict[str, set[str]]) -> Iterator[tuple[int, str]]:
    aliases = _module_aliases(module, modules)
    for node in ast.walk(module.tree):
        if isinstance(node, ast.ImportFrom):
            base = _resolve(module, node)
            if _most_specific(base, modules) is None:
                continue
            for alias in node.names:
                if _is_private(alias.name):
                    yield node.lineno, f"imports the private name {alias.name} from {base}"
        elif isinstance(node, ast.Attribute) and _is_private(node.attr):
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                continue  # the class's own members (or an inherited library's)
            owner_module = _owner_module(owner, aliases, modules)
            if owner_module is not None:
                yield node.lineno, f"uses the private name {owner_module}.{node.attr}"
            elif (node.attr not in module.defined
                  and defined_by.get(node.attr, set()) - {module.name}):
                owners = ", ".join(sorted(defined_by[node.attr]))
                yield node.lineno, f"uses {node.attr}, a private member defined in {owners}"


def _owner_module(owner: ast.expr, aliases: dict[str, str],
                  modules: dict[str, Module]) -> str | None:
    """The project module an expression names (``alias``, ``package.module``), if any."""
    parts: list[str] = []
    while isinstance(owner, ast.Attribute):
        parts.append(owner.attr)
        owner = owner.value
    if not isinstance(owner, ast.Name):
        return None
    dotted = ".".join([owner.id, *reversed(parts)])
    if not parts:
        return aliases.get(owner.id)
    return dotted if dotted in modules else None


def _function_imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import | ast.ImportFrom):
                    yield inner


def _says_start_up(lines: list[str], first: int, last: int) -> bool:
    """Whether the import on lines ``first``..``last`` (1-based), or the comments and
    imports right above it, say it saves start-up time."""
    start = first - 1
    while start > 0 and lines[start - 1].lstrip().startswith(("#", "from ", "import ")):
        start -= 1
    text = " ".join(lines[start:last]).lower()
    return "#" in text and any(word in text for word in START_UP_WORDS)


def function_import_violations(modules: dict[str, Module]) -> Iterator[str]:
    for module in modules.values():
        lines = module.path.read_text().splitlines()
        seen: set[int] = set()
        for node in _function_imports(module.tree):
            if node.lineno in seen:
                continue  # a nested function's import is found twice
            seen.add(node.lineno)
            if _says_start_up(lines, node.lineno, node.end_lineno or node.lineno):
                continue
            shown = ast.get_source_segment(module.path.read_text(), node) or "import"
            yield (f"{module.shown}:{node.lineno}: an import inside a function without a "
                   f"comment saying it saves start-up time: {shown.splitlines()[0]}")


# ----------------------------------------------------------------------------------------
# The tests


MODULES: Final = project_modules()


def _report(title: str, violations: list[str]) -> str:
    return f"{len(violations)} {title}:\n" + "\n".join(f"  {v}" for v in violations)


def test_every_module_is_in_a_layer() -> None:
    assert MODULES, "no module found: is ROOT the repository?"
    for name in MODULES:
        assert 0 <= layer_of(name) <= 4


def test_nothing_imports_a_layer_above() -> None:
    violations = list(layer_violations(MODULES))
    assert not violations, _report("imports from a layer above", violations)


def test_no_import_cycle() -> None:
    violations = list(cycle_violations(MODULES))
    assert not violations, _report("import cycles", violations)


def test_no_private_name_is_used_across_modules() -> None:
    violations = list(private_violations(MODULES))
    assert not violations, _report("private names used across modules", violations)


MAX_MODULE_LINES: Final = 600
"""The most lines a module of the four packages may have (small modules, one job each)."""


def test_no_module_is_over_600_lines() -> None:
    long = [f"{m.shown}: {n} lines" for m in MODULES.values()
            if (n := len(m.path.read_text().splitlines())) > MAX_MODULE_LINES]
    assert not long, _report(f"modules over {MAX_MODULE_LINES} lines", long)


def test_imports_inside_functions_say_why() -> None:
    violations = list(function_import_violations(MODULES))
    assert not violations, _report("imports inside functions", violations)


# ---- the checker checks itself on small made-up modules ----------------------------------


def _fake(sources: dict[str, str]) -> dict[str, Module]:
    modules = {name: Module(name, ROOT / (name.replace(".", "/") + ".py"), ast.parse(text))
               for name, text in sources.items()}
    for module in modules.values():
        module.imports = _imports(module, modules)
        module.defined = _private_definitions(module.tree)
    return modules


def test_the_checker_finds_an_upward_import_and_a_cycle() -> None:
    modules = _fake({
        "stack.a": "from smtp.b import thing\n",
        "smtp.b": "import smtp.c\n",
        "smtp.c": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from smtp.b import x\n",
        "emulator.kernel": "",
        "emulator.board": "from emulator import kernel\n",
    })
    assert [v.split(": ", 1)[1] for v in layer_violations(modules)] == [
        "stack.a (stack) imports smtp.b (smtp), a layer above"]
    assert import_cycles(modules) == [["smtp.b", "smtp.c"]]
    assert modules["emulator.board"].imports == {"emulator.kernel": 1}


def test_the_checker_finds_private_names_used_across_modules() -> None:
    modules = _fake({
        "stack.a": "class A:\n    def __init__(self):\n        self._state = 1\n"
                   "def _helper():\n    pass\n",
        "stack.b": "from stack.a import _helper\nimport stack.a\n"
                   "def f(sock):\n    stack.a._helper()\n    return sock._state\n"
                   "class B:\n    def g(self):\n        return self._own\n"
                   "    def __init__(self):\n        self._own = 2\n",
    })
    found = [v.split(": ", 1)[1] for v in private_violations(modules)]
    assert found == ["imports the private name _helper from stack.a",
                     "uses the private name stack.a._helper",
                     "uses _state, a private member defined in stack.a"]


def test_the_checker_wants_a_reason_for_an_import_inside_a_function(tmp_path: Path) -> None:
    source = ("def f():\n    import json\n"
              "def g():\n    # start-up: measured 40 ms\n    import ssl\n")
    modules = _fake({"scenarios.x": source})
    modules["scenarios.x"].path = tmp_path / "x.py"
    modules["scenarios.x"].path.write_text(source)
    found = [v.split(": ", 1)[1] for v in function_import_violations(modules)]
    assert found == ["an import inside a function without a comment saying it saves "
                     "start-up time: import json"]
