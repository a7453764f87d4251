"""Imports run one way (STYLE.md): the engine, trading plugins and models never reach up."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LTS = Path(__file__).resolve().parents[2] / "lts"

# package -> modules it must never import (a prefix matches its submodules too)
FORBIDDEN = {
    "trading": ("lts.services", "lts.blueprints", "lts.schemas", "lts.security"),
    "models": ("lts.services", "lts.blueprints", "lts.schemas", "lts.security",
               "lts.trading", "lts.plugins"),
    "plugins": ("lts.services", "lts.blueprints", "lts.schemas", "lts.security"),
}
# The aaa plugin authenticates people: it is used by the security layer and uses the
# user and password services, above the trading plugins.
EXEMPT = ("plugins/aaa/",)
# Encryption of broker secrets at rest: services encrypt on save, the engine decrypts
# on use; it knows nothing of HTTP.
ALLOWED = ("lts.security.broker_secrets",)


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_upward_imports(package: str) -> None:
    offences = []
    for path in sorted((LTS / package).rglob("*.py")):
        relative = path.relative_to(LTS).as_posix()
        if relative.startswith(EXEMPT):
            continue
        for line, module in _imports(path):
            if module in ALLOWED:
                continue
            if any(module == bad or module.startswith(bad + ".") for bad in FORBIDDEN[package]):
                offences.append(f"lts/{relative}:{line} imports {module}")
    assert not offences, "\n".join(offences)
