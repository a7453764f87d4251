"""The per-worker cache of verified bearer tokens (:mod:`lts.security.tokens`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lts.models import User, UserSession
from lts.security.tokens import MAX_ENTRIES, TokenCache

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


class Monotonic:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _row(expires_in: timedelta = timedelta(hours=1)) -> UserSession:
    from sqlalchemy.orm import make_transient_to_detached

    user = User(id=7, username="alice", role="user", is_active=True)
    row = UserSession(id=3, user_id=7, token="h", kind="api", created_at=NOW,
                      expires_at=NOW + expires_in, user=user)
    make_transient_to_detached(user)
    make_transient_to_detached(row)
    return row


def _entries(cache: TokenCache) -> dict:
    return cache._entries


def test_an_entry_lapses_on_either_clock_or_at_the_tokens_expiry():
    mono = Monotonic()
    cache = TokenCache(ttl=5, monotonic=mono)
    cache.put("raw", _row(), cache.generation(), NOW)
    key = TokenCache.key("raw")
    assert key != "raw" and key in _entries(cache)  # the secret itself is not kept
    entry = _entries(cache)[key]
    assert entry.trusted_until == 105 and entry.trusted_until_clock == NOW + timedelta(seconds=5)
    mono.now = 105  # monotonic TTL over
    assert cache.get("raw", NOW) is None and key not in _entries(cache)

    cache.put("raw", _row(), cache.generation(), NOW)
    assert key in _entries(cache)
    assert cache.get("raw", NOW + timedelta(seconds=5)) is None  # the aaa clock's TTL over

    cache.put("raw", _row(expires_in=timedelta(seconds=2)), cache.generation(), NOW)
    assert cache.get("raw", NOW + timedelta(seconds=2)) is None  # the token expired


def test_a_row_read_before_a_clear_is_not_put_back():
    cache = TokenCache()
    before = cache.generation()  # a request starts verifying the token...
    cache.clear()  # ...a revocation commits meanwhile...
    cache.put("raw", _row(), before, NOW)  # ...the row it read must not be trusted
    assert _entries(cache) == {}
    cache.put("raw", _row(), cache.generation(), NOW)
    assert len(_entries(cache)) == 1


def test_a_full_cache_is_emptied_rather_than_grown():
    cache = TokenCache()
    for n in range(MAX_ENTRIES):
        cache.put(f"raw{n}", _row(), cache.generation(), NOW)
    assert len(_entries(cache)) == MAX_ENTRIES
    cache.put("one more", _row(), cache.generation(), NOW)
    assert list(_entries(cache)) == [TokenCache.key("one more")]
