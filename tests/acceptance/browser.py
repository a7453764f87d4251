"""A real browser against a real server: Debian's Chromium driven by Playwright.

The app runs in a werkzeug server thread on a free loopback port with its own migrated
SQLite file and the trading loop off (ticks come from the UI's "Run now"). Every page
records console errors, uncaught exceptions and CSP violations; tests assert there are
none. ``LTS_SCREENSHOTS=1`` saves a screenshot of each visited page into
``tests/acceptance/screenshots/`` (git-ignored).

The browser is never downloaded: without ``/usr/bin/chromium`` the tests skip, except
under CI (``CI`` set), where a missing browser is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = Path(__file__).parent / "screenshots"

# Collects what the CSP refuses (the event is not always logged to the console).
CSP_LISTENER = """
document.addEventListener('securitypolicyviolation', (e) => {
  window.__ltsCsp = window.__ltsCsp || [];
  window.__ltsCsp.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline'));
});
"""


def require_browser() -> None:
    """Skip without Chromium, unless CI is set: there a missing browser must fail."""
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing on CI: install Debian's chromium (make browser)")
    pytest.skip(f"{CHROMIUM} is not installed (make browser installs it); browser tests skipped")


@dataclass
class LiveServer:
    """The app served over HTTP in a thread of the test process."""

    app: Any
    base_url: str
    server: Any
    thread: threading.Thread

    def url(self, path: str) -> str:
        """Absolute URL of ``path`` on this server."""
        return self.base_url + path

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self.server.shutdown()
        self.thread.join(timeout=10)


def start_live_server(app: Any) -> LiveServer:
    """Serve ``app`` on a free loopback port (port 0: the kernel picks it)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="lts-live-server", daemon=True)
    thread.start()
    return LiveServer(app, f"http://127.0.0.1:{server.server_port}", server, thread)


@dataclass
class PageProblems:
    """What went wrong in the browser while a test ran."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    # Chromium logs every 4xx fetch as a console error; a 422 is the designed answer
    # of a form with errors (swapped in by app.js), so it is not a problem.
    allowed: list[str] = field(default_factory=lambda: [r"status of 422 \(UNPROCESSABLE"])

    def unexpected(self) -> list[str]:
        """Errors not matching an allowed pattern (e.g. the 404 a test asks for)."""
        return [e for e in self.console_errors + self.page_errors
                if not any(re.search(p, e) for p in self.allowed)]


class Browser:
    """One browser context (its own cookies) with problem tracking and screenshots."""

    def __init__(self, playwright_browser: Any, server: LiveServer) -> None:
        self.server = server
        self.context = playwright_browser.new_context(viewport={"width": 1366, "height": 900})
        self.context.add_init_script(CSP_LISTENER)
        self.problems = PageProblems()
        self.page = self.context.new_page()
        self.page.set_default_timeout(10_000)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.problems.page_errors.append(str(exc)))
        self.csp: list[str] = []

    def _console(self, message: Any) -> None:
        """Keep console errors (CSP refusals are logged here too)."""
        if message.type == "error":
            self.problems.console_errors.append(message.text)

    def goto(self, path: str) -> Any:
        """Open ``path`` and wait until htmx is idle."""
        response = self.page.goto(self.server.url(path))
        self.page.wait_for_load_state("networkidle")
        return response

    def shot(self, name: str) -> None:
        """Save a full-page screenshot when LTS_SCREENSHOTS=1."""
        if os.environ.get("LTS_SCREENSHOTS") == "1":
            SCREENSHOTS.mkdir(exist_ok=True)
            self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    def login(self, username: str, password: str) -> None:
        """Sign in through the login form."""
        self.goto("/login")
        self.page.fill("#username", username)
        self.page.fill("#password", password)
        self.page.click("button[type=submit]")
        self.page.wait_for_selector(".app-wrapper")

    def collect_csp(self) -> None:
        """Read the violations the listener saw on the current document."""
        self.csp.extend(self.page.evaluate("window.__ltsCsp || []"))

    def assert_clean(self) -> None:
        """No console error, uncaught exception or CSP violation happened."""
        self.collect_csp()
        assert not self.csp, f"CSP violations: {self.csp}"
        assert not self.problems.unexpected(), f"browser errors: {self.problems.unexpected()}"

    def close(self) -> None:
        """Close the context."""
        self.context.close()


@pytest.fixture(scope="module")
def live_app(template_database: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """An app on its own copy of the migrated database (shared by a module's tests)."""
    from tests.conftest import make_test_app

    folder = tmp_path_factory.mktemp("browser")
    database = folder / "lts.db"
    shutil.copyfile(template_database, database)
    app = make_test_app(f"sqlite:///{database}", folder, login_rate_limit="1000 per minute")
    yield app
    with app.app_context():
        from lts.extensions import db

        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="module")
def live_server(live_app: Any) -> Iterator[LiveServer]:
    """The live app served on a free port for the module's tests."""
    require_browser()
    server = start_live_server(live_app)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def chromium(live_server: LiveServer) -> Iterator[Any]:
    """Debian's Chromium, headless, launched once per module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def open_browser(chromium: Any, live_server: LiveServer) -> Iterator[Any]:
    """``open_browser()`` gives a fresh context; each is checked for errors and closed."""
    opened: list[Browser] = []

    def _open() -> Browser:
        browser = Browser(chromium, live_server)
        opened.append(browser)
        return browser

    yield _open
    for browser in opened:
        browser.close()
