"""docs/ARCHITECTURE.md cannot rot: every path it names exists, and every
``path::name`` answer names a function or class defined in that file."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "ARCHITECTURE.md"
# A path of the repository, optionally followed by ``::Name`` or ``::Class.method``.
PATH = re.compile(r"(?<![\w/.-])((?:lts|tests|docs|migrations|bench|examples|scripts)/[\w./-]*"
                  r"|wsgi\.py|README\.md)(?:::([\w.]+))?")


def named(text: str) -> list[tuple[str, str | None]]:
    """(path, name or None) for every repository path in ``text``."""
    return [(path.rstrip("."), name) for path, name in PATH.findall(text)]


def defines(source: str, dotted: str) -> bool:
    """Whether ``source`` defines ``dotted`` (a top-level name or ``Class.member``)."""
    scope: list[ast.stmt] = ast.parse(source).body
    for part in dotted.split("."):
        found = [node for node in scope
                 if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                 and node.name == part]
        if not found:
            return False
        scope = found[0].body if isinstance(found[0], ast.ClassDef) else []
    return True


def problems(text: str, root: Path = ROOT) -> list[str]:
    """What in ``text`` points at nothing: missing paths, names not defined there."""
    found = []
    for path, name in named(text):
        target = root / path
        if not target.exists():
            found.append(f"{path} does not exist")
        elif name and not defines(target.read_text(encoding="utf-8"), name):
            found.append(f"{path} defines no {name}")
    return found


def test_every_path_named_exists() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert len(named(text)) >= 30  # the layer picture, the table, the ten answers
    assert problems(text) == []


def test_every_question_has_one_answer() -> None:
    rows = [line for line in DOC.read_text(encoding="utf-8").splitlines()
            if line.startswith("| Where ")]
    assert len(rows) >= 10
    for row in rows:
        answers = named(row)
        assert len(answers) == 1 and answers[0][1], row


def test_the_readme_links_it() -> None:
    assert "docs/ARCHITECTURE.md" in (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(("text", "problem"), [
    ("see `lts/trading/nowhere.py`", "lts/trading/nowhere.py does not exist"),
    ("`lts/trading/lease.py::take_it`", "lts/trading/lease.py defines no take_it"),
    ("`lts/trading/engine.py::Engine.no_such_step`",
     "lts/trading/engine.py defines no Engine.no_such_step"),
])
def test_a_stale_path_is_reported(text: str, problem: str) -> None:
    assert problems(text) == [problem]
