"""Fixtures of the browser tests (see tests/acceptance/browser.py)."""

from tests.acceptance.browser import chromium, live_app, live_server, open_browser  # noqa: F401
