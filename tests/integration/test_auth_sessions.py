"""Browser sessions: server-side rows, rotation, logout replay, timeouts, cookie flags."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from lts.models import AuditLog, User, UserSession
from tests.factories import DEFAULT_PASSWORD, gen_user
from tests.helpers import csrf_token, session_cookie


@pytest.fixture
def app_overrides(clock):
    return {"LTS_CLOCK": clock}


def web_sessions(db, user) -> list[UserSession]:
    return list(db.session.scalars(select(UserSession).where(
        UserSession.user_id == user.id, UserSession.kind == "web")))


def test_login_creates_a_server_side_session_row_holding_only_a_hash(client, db, login_as):
    user = gen_user("alice")
    login_as(user)
    rows = web_sessions(db, user)
    assert len(rows) == 1
    assert len(rows[0].token) == 64 and rows[0].revoked_at is None
    assert rows[0].token not in (session_cookie(client) or "")
    assert client.get("/").status_code == 200


def test_wrong_password_shows_one_generic_message(client, db):
    gen_user("alice")
    for username in ("alice", "nobody"):
        response = client.post("/login", data={"csrf_token": csrf_token(client),
                                                "username": username, "password": "wrong" * 3})
        assert response.status_code == 200
        assert "Invalid username or password" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_session_is_rotated_at_login(client, db, login_as):
    user = gen_user("alice")
    csrf_token(client)  # an anonymous session exists (it holds the CSRF token)
    before = session_cookie(client)
    assert before
    login_as(user)
    after = session_cookie(client)
    assert after and after != before
    # The pre-login cookie does not authenticate.
    client.set_cookie("lts_session", before)
    assert client.get("/").status_code == 302


def test_second_login_revokes_the_previous_session_of_that_browser(client, db, login_as):
    user = gen_user("alice")
    login_as(user)
    login_as(user)
    rows = sorted(web_sessions(db, user), key=lambda r: r.id)
    assert len(rows) == 2
    assert rows[0].revoked_at is not None and rows[1].revoked_at is None


def test_logout_revokes_the_row_and_a_replayed_cookie_is_refused(client, db, login_as):
    user = gen_user("alice")
    login_as(user)
    captured = session_cookie(client)
    page = client.get("/profile").get_data(as_text=True)
    from tests.helpers import csrf_from

    response = client.post("/logout", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert all(row.revoked_at is not None for row in web_sessions(db, user))
    # Replay the cookie jar from before the logout.
    client.set_cookie("lts_session", captured)
    replay = client.get("/")
    assert replay.status_code == 302 and replay.headers["Location"].startswith("/login")
    api = client.get("/api/v1/auth/me")
    assert api.status_code == 401


def test_logout_needs_post_and_csrf(client, db, login_as):
    login_as(gen_user("alice"))
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400
    assert client.get("/").status_code == 200


def test_idle_session_expires(client, db, login_as, clock):
    user = gen_user("alice")
    login_as(user)
    clock.advance(minutes=29)
    assert client.get("/").status_code == 200
    clock.advance(minutes=29)  # 29 idle minutes since the last request: still fine
    assert client.get("/").status_code == 200
    clock.advance(minutes=31)
    response = client.get("/")
    assert response.status_code == 302
    assert web_sessions(db, user)[0].revoked_at is not None
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "session.expired"))


def test_absolute_lifetime_ends_an_active_session(client, db, login_as, clock):
    login_as(gen_user("alice"))
    for _ in range(12 * 4):  # active every 15 minutes for 12 hours
        clock.advance(minutes=15)
        if client.get("/").status_code != 200:
            break
    else:
        pytest.fail("session outlived its 12-hour lifetime")
    assert clock.now - web_sessions(db, db.session.scalar(select(User)))[0].created_at \
        >= __import__("datetime").timedelta(hours=12)


def test_deactivated_user_is_refused_at_once_with_a_live_session(client, db, login_as):
    user = gen_user("alice")
    login_as(user)
    user.is_active = False
    db.session.commit()
    assert client.get("/").status_code == 302
    assert client.get("/api/v1/auth/me").status_code == 401


def test_inactive_user_cannot_log_in(client, db):
    user = gen_user("alice")
    user.is_active = False
    db.session.commit()
    response = client.post("/login", data={"csrf_token": csrf_token(client),
                                            "username": "alice", "password": DEFAULT_PASSWORD})
    assert response.status_code == 200
    assert client.get("/").status_code == 302


def test_session_cookie_flags(app, client, db, login_as):
    login_as(gen_user("alice"))
    client.get("/")
    cookie = client.get_cookie("lts_session")
    assert cookie.http_only and cookie.same_site == "Lax"
    assert cookie.expires is None  # a browser-session cookie: remember-me is off


@pytest.mark.parametrize("secure", [True])
def test_session_cookie_is_secure_by_default(tmp_path, database_path, secure):
    from tests.conftest import make_test_app

    app = make_test_app(f"sqlite:///{database_path}", tmp_path, session_cookie_secure=secure)
    response = app.test_client().get("/login", base_url="https://localhost")
    header = next(h for h in response.headers.getlist("Set-Cookie")
                  if h.startswith("lts_session="))
    assert "Secure" in header and "HttpOnly" in header and "SameSite=Lax" in header


def test_remember_me_is_off_unless_configured(client, db):
    page = client.get("/login").get_data(as_text=True)
    assert 'name="remember"' not in page


@pytest.mark.parametrize("app_overrides", [{"remember_me_days": 14}])
def test_remember_me_when_configured_makes_a_persistent_cookie_with_the_same_flags(
        client, db, login_as):
    user = gen_user("alice")
    assert 'name="remember"' in client.get("/login").get_data(as_text=True)
    login_as(user, remember=True)
    cookie = client.get_cookie("lts_session")
    assert cookie.expires is not None and cookie.http_only and cookie.same_site == "Lax"
    assert web_sessions(db, user)[0].name == "remember-me"


@pytest.mark.parametrize("target,expected", [
    ("/profile", "/profile"),
    ("https://evil.example/", "/"),
    ("//evil.example/", "/"),
    ("/\\evil.example", "/"),
])
def test_next_parameter_only_accepts_local_paths(client, db, target, expected):
    gen_user("alice")
    response = client.post("/login", query_string={"next": target},
                           data={"csrf_token": csrf_token(client), "username": "alice",
                                 "password": DEFAULT_PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == expected


def test_anonymous_page_request_redirects_to_login_with_next(client):
    response = client.get("/profile")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/profile"


def test_anonymous_htmx_request_gets_hx_redirect(htmx_client):
    response = htmx_client.get("/admin/audit")
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/login"


def test_login_rehashes_an_outdated_password_hash(client, db, login_as):
    from argon2 import PasswordHasher

    user = gen_user("alice")
    user.password_hash = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(
        DEFAULT_PASSWORD)
    db.session.commit()
    old = user.password_hash
    login_as(user)
    db.session.refresh(user)
    assert user.password_hash != old and "m=19456,t=2,p=1" in user.password_hash


def test_api_logout_with_the_browser_session_needs_csrf_and_ends_it(client, db, login_as):
    from tests.helpers import csrf_from

    user = gen_user("alice")
    login_as(user)
    assert client.post("/api/v1/auth/logout").status_code == 400
    token = csrf_from(client.get("/profile").get_data(as_text=True))
    assert client.post("/api/v1/auth/logout", headers={"X-CSRFToken": token}).status_code == 204
    assert client.get("/api/v1/auth/me").status_code == 401
    assert web_sessions(db, user)[0].revoked_at is not None


def test_cookie_used_from_another_browser_is_refused_and_revoked(client, db, login_as):
    user = gen_user("alice")
    login_as(user)
    stolen = client.get("/", headers={"User-Agent": "attacker-browser/1.0"})
    assert stolen.status_code == 302
    assert web_sessions(db, user)[0].revoked_at is not None
    assert client.get("/").status_code == 302
    assert db.session.scalar(select(AuditLog).where(
        AuditLog.action == "session.hijack_suspected")).outcome == "denied"
