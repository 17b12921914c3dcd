"""Backends sit below the services: services call backends, never the other way round."""

import ast
from pathlib import Path

import knowledge.backends

BACKENDS = Path(knowledge.backends.__file__).parent


def imported_modules(tree: ast.AST) -> set[str]:
    """Every module an import statement names, anywhere in the file (inside functions too)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_backends_never_import_knowledge_services():
    files = sorted(BACKENDS.glob("*.py"))
    assert {f.name for f in files} >= {"base.py", "local.py", "bedrock.py"}
    offenders = {
        f.name: sorted(
            name
            for name in imported_modules(ast.parse(f.read_text(), filename=str(f)))
            if name == "knowledge.services" or name.startswith("knowledge.services.")
        )
        for f in files
    }
    assert {name: found for name, found in offenders.items() if found} == {}
