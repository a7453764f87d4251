"""Finding 4: a real breached-password list, repeated characters and the account's names.

The list (lts/data/breached_passwords.txt.gz, SecLists via an npm package, MIT) is
loaded once per process and bisected; every path that sets a password (register,
admin create, CLI create-user, reset, change) applies the same policy and says why.
"""

from __future__ import annotations

import gzip
import random
from importlib import resources

import pytest

from lts.cli import lts
from lts.plugins.aaa.passwords import SortedLines, breached_passwords, password_problems
from tests.factories import DEFAULT_PASSWORD, gen_user

REPORTED = ["Password123!", "password123!", "trustno1trustno1", " " * 12]


def _entries() -> list[str]:
    data = resources.files("lts.data").joinpath("breached_passwords.txt.gz").read_bytes()
    return gzip.decompress(data).decode("utf-8").splitlines()


def test_the_list_holds_over_100000_sorted_unique_entries_with_its_source() -> None:
    entries = _entries()
    assert len(entries) >= 100_000
    assert entries == sorted(set(entries))
    assert len(breached_passwords()) == len(entries)
    provenance = resources.files("lts.data").joinpath("BREACHED_PASSWORDS.md").read_text()
    assert "SecLists" in provenance and "MIT" in provenance


def test_the_list_is_loaded_once_and_kept_small() -> None:
    assert breached_passwords() is breached_passwords()
    assert len(breached_passwords().blob) < 8_000_000  # a set of the same takes ~50 MB


def test_every_entry_is_found_and_near_misses_are_not() -> None:
    entries = _entries()
    listed = breached_passwords()
    sample = random.Random(11).sample(entries, 5000) + entries[:20] + entries[-20:]
    assert all(entry in listed for entry in sample)
    assert not any(entry + "\x01" in listed for entry in sample)
    assert not any(entry[:-1] + "\uffff" in listed for entry in sample if entry)
    assert "" not in listed and "a\nb" not in listed and 5 not in listed  # type: ignore[operator]


def test_bisection_on_a_tiny_list() -> None:
    lines = SortedLines(b"a\nab\nb\nzz\n")
    assert [w in lines for w in ("a", "ab", "b", "zz")] == [True] * 4
    assert [w in lines for w in ("", "0", "aa", "abc", "ba", "z", "zzz")] == [False] * 7


@pytest.mark.parametrize("password", REPORTED)
def test_the_reported_passwords_are_refused_with_a_reason(password: str) -> None:
    problems = password_problems(password, username="someone", email="someone@example.com")
    assert problems
    assert any(p.startswith(("is too common:", "must not be made")) for p in problems)


@pytest.mark.parametrize(("password", "reason"), [
    ("aaaaaaaaaaab", "mostly of one repeated character"),
    ("xxxxxxx-xxxxxxx", "mostly of one repeated character"),
    ("abababababab", "at least 4 different characters"),
    ("alice-trades-fx-2024", "must not contain the username"),
    ("my-dear-wonderland-42", "must not contain the name part of the email address"),
    ("Password2024!", "without the digits and symbols at its end"),
    ("dragondragondragon", "repeats a password"),
])
def test_weak_passwords_are_refused_saying_why(password: str, reason: str) -> None:
    problems = password_problems(password, username="alice", email="wonderland@example.com")
    assert any(reason in p for p in problems), problems


@pytest.mark.parametrize("password", [DEFAULT_PASSWORD, "Xk9#mP2$vL5!q", "monkey83920184!",
                                      "tidal basin ferry 7"])
def test_strong_passwords_pass(password: str) -> None:
    assert password_problems(password, username="alice", email="wonderland@example.com") == []


@pytest.mark.parametrize("app_overrides", [{"registration_open": True}])
@pytest.mark.parametrize("password", REPORTED)
def test_every_path_that_sets_a_password_refuses_them(app, client, db, auth_headers, runner,
                                                      password: str) -> None:
    admin = gen_user("breachadmin", role="admin")
    registered = client.post("/api/v1/auth/register", json={
        "username": "newbie", "email": "newbie@example.com", "password": password})
    assert registered.status_code == 422 and "password" in registered.get_json()["error"]["fields"]
    created = client.post("/api/v1/users", headers=auth_headers(admin), json={
        "username": "newbie", "email": "newbie@example.com", "password": password})
    assert created.status_code == 422 and "password" in created.get_json()["error"]["fields"]
    cli = runner.invoke(lts, ["create-user", "newbie", "--email", "n@example.com",
                              "--password-stdin"], input=password + "\n")
    assert cli.exit_code != 0
    assert "too common" in cli.output or "made only of spaces" in cli.output
    user = gen_user("changer")
    changed = client.post("/api/v1/auth/password", headers=auth_headers(user), json={
        "current_password": DEFAULT_PASSWORD, "new_password": password})
    assert changed.status_code == 422
    token = app.extensions["lts.aaa"].make_reset_token("changer")[1]
    reset = client.post("/api/v1/auth/password-reset/confirm",
                        json={"token": token, "password": password})
    assert reset.status_code == 422 and "password" in reset.get_json()["error"]["fields"]
