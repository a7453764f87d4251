"""The browser tests skip without Chromium only outside CI; on CI they fail."""

from __future__ import annotations

import pytest

from tests.acceptance import browser


def test_missing_chromium_skips_outside_ci(monkeypatch):
    monkeypatch.setattr(browser, "CHROMIUM", "/nonexistent/chromium")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="not installed"):
        browser.require_browser()


def test_missing_chromium_fails_on_ci(monkeypatch):
    monkeypatch.setattr(browser, "CHROMIUM", "/nonexistent/chromium")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="missing on CI"):
        browser.require_browser()


def test_a_422_form_answer_is_not_a_browser_error_but_a_500_is():
    problems = browser.PageProblems(console_errors=[
        "Failed to load resource: the server responded with a status of 422 (UNPROCESSABLE "
        "ENTITY)",
        "Failed to load resource: the server responded with a status of 500 (INTERNAL "
        "SERVER ERROR)"])
    assert problems.unexpected() == [problems.console_errors[1]]
