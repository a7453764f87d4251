"""Imports run one way (docs/ARCHITECTURE.md): every module of ``lts`` has a layer, and
no module imports a layer above its own, nor breaks one of the named rules below.

Imports are read with :mod:`ast`, so nothing is missed that Python would run: imports
inside functions (lazy imports), ``from package import submodule``, relative imports
and ``TYPE_CHECKING`` blocks all count. There are no exemptions: a rule that cannot
hold yet is listed in :data:`PENDING` with the reason and the branch that ends it, and
the lead empties that list when the branch is merged (a pending entry that no longer
hides an offence fails :func:`test_pending_rules_still_hide_an_offence`).
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

LTS = Path(__file__).resolve().parents[2] / "lts"

# Modules everything may import: they import nothing of lts but each other.
FOUNDATIONS = ("lts.config", "lts.data", "lts.database", "lts.errors", "lts.extensions",
               "lts.http_errors", "lts.json_provider", "lts.limits", "lts.list_limits",
               "lts.logging_setup", "lts.version")
# The shared web layer: request helpers, error handlers and forms every blueprint may use
# (lts/web/), and the URL converters and menu the factory installs. Modules directly in
# lts/blueprints/ (not in an area's package) would belong to it too.
WEB_LAYER = ("lts.navigation", "lts.routing", "lts.web")
ENTRY = ("lts", "lts.cli", "lts.cli_backtest", "lts.cli_data", "lts.cli_ops", "lts.cli_plugins",
         "lts.cli_worker", "lts.server")

# Layers from the top: a module may import its own layer and any layer below it.
LAYERS = ("entry", "blueprint", "edge", "trading", "plugins", "models", "foundations")
# The groups sharing the "edge" layer, between the blueprints and the engine.
EDGE = ("web", "services", "schemas", "security")

# Imports that stay forbidden inside one layer: (importer group, imported group, why).
NEVER = (
    ("schemas", "services", "schemas share constants from below, never from services"),
    ("security", "blueprint", "security helpers know no blueprint"),
    ("security", "web", "security helpers know no blueprint, nor their shared helpers"),
    ("services", "blueprint", "services are called by views, never the other way"),
    ("services", "web", "services are called by views, never the other way"),
    ("schemas", "blueprint", "schemas validate JSON for any caller; they know no page"),
    ("schemas", "web", "schemas validate JSON for any caller; they know no page"),
    ("blueprint", "other blueprint", "blueprints share the web layer, never each other"),
)

# Plugins that receive frozen dataclasses, not ORM rows: a third-party one of these
# kinds never depends on our tables, and the built-ins show how (STYLE.md).
DATA_ONLY = ("lts.plugins.strategy", "lts.plugins.pipeline", "lts.plugins.portfolio",
             "lts.plugins.base", "lts.plugins.bars")
DATA_ONLY_RULE = "data-only plugin -> models (strategy, pipeline and portfolio plugins get " \
                 "frozen dataclasses, never ORM rows)"

# Rules (or single modules) not enforced until the branch fixing them is merged.
PENDING: dict[str, str] = {}


@dataclass(frozen=True)
class Module:
    """One module of the tree: its dotted name, whether it is a package, its source."""

    name: str
    is_package: bool
    source: str


def read_tree(root: Path = LTS) -> dict[str, Module]:
    """Every ``.py`` module under ``root`` (the ``lts`` package), by dotted name."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_package else parts)
        modules[name] = Module(name, is_package, path.read_text(encoding="utf-8"))
    return modules


def _existing(name: str, modules: Mapping[str, Module]) -> str | None:
    """The deepest module of ``modules`` that ``name`` is or lies in (None: not ours)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


@functools.cache
def _parse(source: str) -> ast.Module:
    """The syntax tree of one source (cached: the scratch tests re-read the whole tree)."""
    return ast.parse(source)


def imports_of(module: Module, modules: Mapping[str, Module]) -> list[tuple[int, str]]:
    """(line, module of the tree) for every import statement anywhere in ``module``."""
    package = module.name if module.is_package else module.name.rpartition(".")[0]
    found = []
    for node in ast.walk(_parse(module.source)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            # ``from package import name``: the submodule when ``name`` is one.
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                       for alias in node.names]
        else:
            continue
        for target in targets:
            resolved = _existing(target, modules)
            if resolved is not None and resolved != module.name:
                found.append((node.lineno, resolved))
    return sorted(set(found))


def group_of(name: str) -> str:
    """The group a module belongs to (a layer, or one group of the edge layer)."""
    parts = name.split(".")
    if name in ENTRY:
        return "entry"
    if _within(name, FOUNDATIONS):
        return "foundations"
    if _within(name, WEB_LAYER) or name == "lts.blueprints":
        return "web"
    if parts[1] == "blueprints":
        return "blueprint" if len(parts) > 3 or _is_area(parts[2]) else "web"
    if name == "lts.runtime_config":
        return "models"  # reads and writes the Config table, like a model's own queries
    top = {"services": "services", "backtest": "services", "schemas": "schemas",
           "security": "security",
           "trading": "trading", "workers": "trading", "plugins": "plugins", "testing": "plugins",
           "models": "models"}
    if parts[1] in top:
        return top[parts[1]]
    raise LookupError(f"{name} has no layer: place it in tests/unit/test_import_direction.py "
                      f"and docs/ARCHITECTURE.md")


@functools.cache
def _is_area(name: str) -> bool:
    """Whether ``lts/blueprints/<name>`` is a blueprint's package (not a shared module)."""
    return (LTS / "blueprints" / name).is_dir()


def layer_of(group: str) -> int:
    """The rank of a group's layer, 0 at the top."""
    return LAYERS.index("edge" if group in EDGE else group)


def _within(name: str, packages: Iterable[str]) -> bool:
    """Whether module ``name`` is one of ``packages`` or lies inside one."""
    return any(name == p or name.startswith(p + ".") for p in packages)


def _area(name: str) -> str:
    """The blueprint area of a blueprint module: ``lts.blueprints.<area>``."""
    return ".".join(name.split(".")[:3])


def offences(modules: Mapping[str, Module], pending: Iterable[str] = ()
             ) -> list[tuple[str, str]]:
    """(rule, "file:line imports module") for every import breaking a rule.

    ``pending`` names rules and modules left out (see :data:`PENDING`).
    """
    pending = set(pending)
    found = []
    for module in modules.values():
        if module.name in pending:
            continue
        mine = group_of(module.name)
        for line, target in imports_of(module, modules):
            theirs = group_of(target)
            where = f"{module.name}:{line} imports {target}"
            if layer_of(theirs) < layer_of(mine):
                found.append((f"{mine} -> {theirs} (upward)", where))
            if mine == theirs == "blueprint" and _area(module.name) != _area(target):
                theirs = "other blueprint"
            if theirs == "models" and _within(module.name, DATA_ONLY):
                found.append((DATA_ONLY_RULE, where))
            for importer, imported, why in NEVER:
                rule = f"{importer} -> {imported}"
                if (mine, theirs) == (importer, imported) and rule not in pending:
                    found.append((f"{rule} ({why})", where))
    return found


def package_of(name: str) -> str:
    """The unit of the cycle check: ``lts.<package>``, a blueprint area, or the module."""
    parts = name.split(".")
    if len(parts) > 2 and parts[1] == "blueprints" and _is_area(parts[2]):
        return ".".join(parts[:3])
    return ".".join(parts[:2])


def package_cycles(modules: Mapping[str, Module], pending: Iterable[str] = ()
                   ) -> list[list[str]]:
    """Groups of packages importing each other, directly or through others (Tarjan).

    Modules named in ``pending`` are left out (see :data:`PENDING`).
    """
    graph: dict[str, set[str]] = {package_of(name): set() for name in modules}
    for module in modules.values():
        if module.name in pending:
            continue
        for _, target in imports_of(module, modules):
            if package_of(target) != package_of(module.name):
                graph[package_of(module.name)].add(package_of(target))
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


@pytest.fixture(scope="module")
def tree() -> dict[str, Module]:
    return read_tree()


def _report(found: list[tuple[str, str]]) -> str:
    return "\n".join(f"{rule}: {where}" for rule, where in sorted(found))


def test_every_module_has_a_layer(tree: dict[str, Module]) -> None:
    groups = {name: group_of(name) for name in tree}
    assert set(groups.values()) == {*LAYERS, *EDGE} - {"edge"}


def test_no_import_breaks_the_rules(tree: dict[str, Module]) -> None:
    found = offences(tree, PENDING)
    assert not found, _report(found)


def test_no_package_imports_itself_through_others(tree: dict[str, Module]) -> None:
    assert package_cycles(tree, PENDING) == []


def test_pending_rules_still_hide_an_offence(tree: dict[str, Module]) -> None:
    """Each pending entry still excuses something: once it does not, empty it."""
    everything = offences(tree)
    for entry in PENDING:
        hidden = [where for rule, where in everything
                  if rule.startswith(entry + " (") or where.startswith(entry + ":")]
        assert hidden, f"PENDING entry {entry!r} hides nothing any more: remove it"


def _with(tree: Mapping[str, Module], name: str, source: str) -> dict[str, Module]:
    """The tree plus one scratch module (the files on disk are not touched)."""
    return {**tree, name: Module(name, False, source)}


@pytest.mark.parametrize(("name", "source", "rule"), [
    ("lts.plugins.scratch", "def f():\n    from lts.services import orders\n",
     "plugins -> services (upward)"),
    ("lts.plugins.scratch", "import lts.trading.engine\n", "plugins -> trading (upward)"),
    ("lts.trading.scratch", "from lts.blueprints.api import bp\n",
     "trading -> blueprint (upward)"),
    ("lts.trading.scratch", "from ..services.orders import list_orders\n",
     "trading -> services (upward)"),
    ("lts.models.scratch", "from lts import trading\n", "models -> trading (upward)"),
    ("lts.errors", "\n\ndef _late():\n    from lts.models import User\n",
     "foundations -> models (upward)"),
    ("lts.schemas.scratch", "from lts.services.pagination import MAX_PER_PAGE\n",
     "schemas -> services"),
    ("lts.security.scratch", "from lts.web.errors import register_error_handlers\n",
     "security -> web"),
    ("lts.services.scratch", "from lts.blueprints.portfolios import routes\n",
     "services -> blueprint"),
    ("lts.plugins.strategy.scratch", "from lts.models.trading import Position\n",
     "data-only plugin -> models"),
])
def test_a_deliberate_violation_fails(tree: dict[str, Module], name: str, source: str,
                                      rule: str) -> None:
    """A scratch module (or a line added to a real one) breaking a rule is reported."""
    if name in tree:
        source = tree[name].source + source
    found = offences(_with(tree, name, source), PENDING)
    assert [r for r, where in found if where.startswith(name + ":")]
    assert any(r.startswith(rule) for r, _ in found), _report(found)


def test_blueprints_never_import_each_other(tree: dict[str, Module]) -> None:
    """The rule is on (not pending) and no blueprint area imports another."""
    rule = "blueprint -> other blueprint"
    assert rule not in PENDING
    found = [(r, w) for r, w in offences(tree, PENDING) if r.startswith(rule)]
    assert not found, _report(found)
    # Each area really is checked: every area imports the shared web layer instead.
    areas = {_area(name) for name in tree if group_of(name) == "blueprint"}
    assert {"lts.blueprints.admin", "lts.blueprints.api", "lts.blueprints.portfolios",
            "lts.blueprints.dashboard"} <= areas
    for area in ("admin", "api", "portfolios", "dashboard"):
        targets = {target for name in tree if name.startswith(f"lts.blueprints.{area}")
                   for _, target in imports_of(tree[name], tree)}
        assert any(_within(t, ("lts.web",)) for t in targets), area


def test_a_blueprint_importing_another_fails(tree: dict[str, Module]) -> None:
    scratch = _with(tree, "lts.blueprints.auth.scratch",
                    "from lts.blueprints.admin.routes import bp\n")
    rules = {rule for rule, where in offences(scratch, PENDING)
             if where.startswith("lts.blueprints.auth.scratch:")}
    assert rules == {"blueprint -> other blueprint "
                     "(blueprints share the web layer, never each other)"}
    lazy = _with(tree, "lts.blueprints.portfolios.scratch",
                 "def f():\n    from lts.blueprints.dashboard import routes\n")
    assert [w for r, w in offences(lazy, PENDING) if r.startswith("blueprint -> other")]
    shared = _with(tree, "lts.blueprints.auth.scratch",
                   "from lts.web import forms\nfrom lts.web.request import actor\n")
    assert not [w for _, w in offences(shared, PENDING) if w.startswith("lts.blueprints.auth.")]


def test_the_web_layer_imports_no_blueprint(tree: dict[str, Module]) -> None:
    scratch = _with(tree, "lts.web.scratch", "from lts.blueprints.dashboard import bp\n")
    assert any(r.startswith("web -> blueprint (upward)") for r, _ in offences(scratch, PENDING))


def test_a_package_cycle_fails(tree: dict[str, Module]) -> None:
    scratch = _with(tree, "lts.errors", tree["lts.errors"].source
                    + "\n\ndef _late():\n    import lts.database\n")
    scratch = _with(scratch, "lts.database", tree["lts.database"].source
                    + "\n\ndef _late():\n    from lts import errors\n")
    # Both are foundations: the layers allow it, the cycle check does not.
    assert not [w for _, w in offences(scratch, PENDING) if w.startswith(("lts.errors:",
                                                                          "lts.database:"))]
    assert ["lts.database", "lts.errors"] in package_cycles(scratch, PENDING)


def test_a_module_without_a_layer_fails(tree: dict[str, Module]) -> None:
    with pytest.raises(LookupError, match=r"lts\.scratch has no layer"):
        offences(_with(tree, "lts.scratch", "import os\n"))
