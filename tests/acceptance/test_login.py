"""Steps for login.feature, driven through the real Flask test client and login form.

The browser (Playwright) version of this story belongs to the dashboard issue.
"""

from __future__ import annotations

import pytest
from pytest_bdd import given, parsers, scenarios, then, when
from sqlalchemy import select

from lts.extensions import db
from lts.models import AuditLog
from tests.factories import DEFAULT_PASSWORD, gen_user
from tests.helpers import csrf_from, csrf_token, session_cookie

scenarios("features/login.feature")


@pytest.fixture
def story() -> dict:
    return {}


@given(parsers.parse('a user "{username}" with role "{role}"'))
def a_user(db, username, role):
    gen_user(username, role=role)


def sign_in(client, story, username, password):
    response = client.post("/login", data={"csrf_token": csrf_token(client),
                                            "username": username, "password": password})
    story["response"] = response


@when(parsers.parse('"{username}" signs in with the right password'))
def signs_in(client, story, username):
    sign_in(client, story, username, DEFAULT_PASSWORD)


@when(parsers.parse('"{username}" signs in with the password "{password}"'))
def signs_in_with(client, story, username, password):
    sign_in(client, story, username, password)


@when(parsers.parse('"{username}" signs in with the password "{password}" {times:d} times'))
def signs_in_repeatedly(client, story, username, password, times):
    for _ in range(times):
        sign_in(client, story, username, password)


@when("the browser keeps a copy of its cookies")
def copy_cookies(client, story):
    story["cookie"] = session_cookie(client)


@when(parsers.parse('"{username}" signs out'))
def signs_out(client):
    token = csrf_from(client.get("/").get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302


@then("the dashboard is shown")
def dashboard_shown(client, story):
    assert story["response"].status_code == 302
    page = client.get(story["response"].headers["Location"])
    assert page.status_code == 200 and "app-wrapper" in page.get_data(as_text=True)


@then("the dashboard is not reachable")
def dashboard_not_reachable(client):
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


@then("the session cookie is HttpOnly and SameSite=Lax")
def cookie_flags(client):
    cookie = client.get_cookie("lts_session")
    assert cookie.http_only and cookie.same_site == "Lax"


@then("the login is in the audit log")
def login_audited():
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "login"))


@then("the lockout is in the audit log")
def lockout_audited():
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "account.locked"))


@then("the users admin page is reachable")
def admin_reachable(client):
    assert client.get("/admin/users").status_code == 200


@then("the users admin page answers 403")
def admin_forbidden(client):
    assert client.get("/admin/users").status_code == 403


@then(parsers.parse('the login page says "{text}"'))
def login_page_says(story, text):
    assert story["response"].status_code == 200
    assert text in story["response"].get_data(as_text=True)


@then("the copied cookies no longer open the dashboard")
def replay_refused(client, story):
    client.set_cookie("lts_session", story["cookie"])
    dashboard_not_reachable(client)
