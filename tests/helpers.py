"""Helpers shared by the AAA tests: an injectable clock and CSRF token extraction."""

from __future__ import annotations

import re
import shutil
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any

from lts.models.types import utcnow
from lts.trading.clock import ManualClock

_CSRF_INPUT = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"'
                         r'|type="hidden" name="csrf_token" value="([^"]+)"')
_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


class FakeClock(ManualClock):
    """The engine's manual clock, starting now by default: pass it as ``LTS_CLOCK``."""

    def __init__(self, start: datetime | None = None) -> None:
        super().__init__(start or utcnow())


def tick_once(app: Any, now: datetime, plugins: Any = None) -> Any:
    """One tick of a fresh engine whose clock reads ``now``, closed after; its TickReport."""
    from lts.trading.engine import Engine

    engine = Engine(app, plugins=plugins, clock=ManualClock(now))
    try:
        return engine.tick()
    finally:
        engine.close()


def csrf_from(html: str) -> str:
    """The CSRF token of the first form (or the meta tag) of a page."""
    match = _CSRF_INPUT.search(html) or _CSRF_META.search(html)
    assert match, "no CSRF token on the page"
    return next(group for group in match.groups() if group)


def csrf_token(client, path: str = "/login") -> str:
    """Fetch ``path`` with ``client`` and return the CSRF token it carries."""
    response = client.get(path, follow_redirects=True)
    return csrf_from(response.get_data(as_text=True))


def session_cookie(client) -> str | None:
    """The value of the LTS session cookie in ``client``'s jar."""
    cookie = client.get_cookie("lts_session")
    return cookie.value if cookie else None


#: The example packages under examples/, installed by tests with ``install_example``.
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PLUGIN_PACKAGE = EXAMPLES / "plugin_package"
CORE_PLUGIN_PACKAGE = EXAMPLES / "core_plugin"


def install_from_pyproject(package: Path, target: Path) -> str:
    """Lay the example ``package`` out in ``target`` as an installed distribution.

    Its modules are copied beside a ``<name>-<version>.dist-info`` whose ``METADATA`` and
    ``entry_points.txt`` come from the package's own ``pyproject.toml``: with ``target``
    on ``sys.path``, ``importlib.metadata`` finds its entry points exactly as after a real
    installation (``pip install --target`` would do the same, but needs network or
    ``bdist_wheel``). Returns the distribution name.
    """
    for module in (package / "src").iterdir():
        if module.is_dir() and (module / "__init__.py").exists():
            shutil.copytree(module, target / module.name,
                            ignore=shutil.ignore_patterns("__pycache__"))
    install_package_metadata(target, package / "pyproject.toml")
    return tomllib.loads((package / "pyproject.toml").read_text("utf-8"))["project"]["name"]


def install_package_metadata(site: Path, pyproject: Path) -> Path:
    """Write the ``.dist-info`` that ``pip install -e`` would leave for ``pyproject``.

    Name, version and entry points come from the pyproject itself, so a test loading
    plugins through it checks the package's real entry-point declaration. ``site`` must
    be on ``sys.path`` (next to the importable package).
    """
    project = tomllib.loads(pyproject.read_text("utf-8"))["project"]
    name, version = project["name"], project["version"]
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", "utf-8")
    lines = []
    for group, targets in project.get("entry-points", {}).items():
        lines.append(f"[{group}]")
        lines.extend(f"{key} = {target}" for key, target in targets.items())
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n", "utf-8")
    return info


def forget_modules_under(folder: Path) -> None:
    """Drop modules imported from ``folder`` (a test's throw-away packages) from sys.modules."""
    import sys

    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", "") or "").startswith(str(folder)):
            del sys.modules[name]


def migration_head() -> str:
    """The newest revision in ``migrations/``: tests about "at head" must not name a number
    that the next migration makes stale."""
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

    config = AlembicConfig()
    config.set_main_option("script_location",
                           str(Path(__file__).resolve().parents[1] / "migrations"))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None, "migrations/ has no head revision"
    return head
