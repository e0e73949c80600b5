"""Route modules hold no queries: they parse, authorise, call a service, shape the answer.

Read from the source (no import): a route module that imports a statement builder from
SQLAlchemy, reaches for a session, or runs a statement on a connection fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROUTES = sorted((Path(__file__).resolve().parents[2] / "api" / "routes").glob("*.py"))
_STATEMENT_BUILDERS = {"select", "insert", "update", "delete", "text", "func"}
_RUNNERS = {"execute", "scalar", "scalars", "get", "query", "connect"}


def _queries(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            found += [f"line {node.lineno}: imports {alias.name} from {node.module}"
                      for alias in node.names if alias.name in _STATEMENT_BUILDERS]
        elif isinstance(node, ast.Attribute) and node.attr in {"session", "engine"}:
            found.append(f"line {node.lineno}: uses .{node.attr}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in _RUNNERS and isinstance(node.func.value, ast.Name) \
                and node.func.value.id in {"session", "connection", "conn"}:
            found.append(f"line {node.lineno}: runs {node.func.value.id}.{node.func.attr}")
    return found


@pytest.mark.parametrize("module", ROUTES, ids=[path.stem for path in ROUTES])
def test_a_route_module_holds_no_query(module: Path) -> None:
    assert _queries(ast.parse(module.read_text(encoding="utf-8"))) == []
