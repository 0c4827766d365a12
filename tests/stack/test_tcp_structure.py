"""The TCP package keeps its two structural rules (read in the source, not at run time).

* One traced funnel: a connection's ``state`` is assigned only in
  ``Connection.__init__`` and ``Connection.set_state`` (which records ``state``).
* The connection sees its stack only through ``StackServices``: no module of
  ``stack/tcp/`` but the package's ``__init__`` imports ``stack.tcp.stack``.
"""

from __future__ import annotations

import ast
from pathlib import Path

TCP = Path(__file__).parents[2] / "stack" / "tcp"


def _modules() -> list[Path]:
    modules = sorted(TCP.glob("*.py"))
    assert len(modules) > 5, f"expected the stack/tcp package, found {modules}"
    return modules


def _functions_assigning_state(tree: ast.Module) -> list[tuple[str, int]]:
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST, where: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = where
            if isinstance(child, ast.FunctionDef | ast.ClassDef):
                name = f"{where}.{child.name}" if where else child.name
            targets: list[ast.expr] = []
            if isinstance(child, ast.Assign):
                targets = child.targets
            elif isinstance(child, ast.AugAssign | ast.AnnAssign):
                targets = [child.target]
            for target in targets:
                if isinstance(target, ast.Attribute) and target.attr == "state":
                    found.append((name, child.lineno))
            visit(child, name)

    visit(tree, "")
    return found


def test_connection_state_is_assigned_only_by_the_traced_funnel() -> None:
    allowed = {("connection.py", "Connection.__init__"), ("connection.py", "Connection.set_state")}
    seen = set()
    for path in _modules():
        for where, line in _functions_assigning_state(ast.parse(path.read_text())):
            assert (path.name, where) in allowed, (
                f"stack/tcp/{path.name}:{line} ({where}) assigns .state; "
                "use Connection.set_state")
            seen.add((path.name, where))
    assert seen == allowed


def test_only_the_package_init_imports_the_stack_module() -> None:
    for path in _modules():
        if path.name in ("__init__.py", "stack.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert node.module != "stack.tcp.stack", (
                    f"stack/tcp/{path.name} imports stack.tcp.stack; a connection sees "
                    "the stack only through StackServices")
                assert not (node.module == "stack.tcp" and node.level == 0), (
                    f"stack/tcp/{path.name} imports the package stack.tcp (a cycle)")
