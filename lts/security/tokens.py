"""A per-worker cache of verified bearer tokens: one query less on every API call.

Verifying a token is a hash and a query for its row and user (~0.3 ms, a third of a
small API answer). A token verified by the aaa plugin is remembered here, keyed by the
SHA-256 of the raw secret (the secret itself is never kept), for at most
:data:`TOKEN_CACHE_SECONDS`. What may end a token is handled so:

* **revocation, logout, deactivation, a role or password change in this worker**: any
  write to the ``sessions`` or ``users`` table through this process's ORM (a changed
  row, a bulk ``UPDATE``/``DELETE``, raw SQL) empties the cache when it is flushed and
  again when it commits, so the next call in this worker asks the plugin again: the
  revoked token is refused at once;
* **the same in another worker or process** (another gunicorn worker, the CLI): that
  worker's entry lives at most :data:`TOKEN_CACHE_SECONDS`; the token is refused there
  within that time;
* **expiry**: each entry keeps the token's ``expires_at`` and is checked against the
  aaa plugin's clock on every use, so an expired token is refused on time everywhere.

The TTL runs on both the monotonic clock and the aaa plugin's clock (whichever ends
first), so tests with an injected clock see entries lapse when they move it.

A hit gives the request its own session-bound copies of the token row and its user
(``Session.merge(load=False)``, no query), so views, services and lazy loads see
ordinary persistent objects. ``last_used_at`` is touched by the plugin when an entry is
refilled (the plugin only records use once a minute anyway).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, current_app
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from lts.extensions import db
from lts.models import User, UserSession

#: How long a verified token is trusted without asking the aaa plugin again (seconds):
#: the longest a token revoked (or a user deactivated) in another process still works
#: in a worker that verified it just before.
TOKEN_CACHE_SECONDS = 5.0
#: Entries kept per app at most (a full cache is emptied: a flood of fresh tokens
#: cannot grow a worker's memory).
MAX_ENTRIES = 2048
EXTENSION_KEY = "lts.token_cache"
_WATCHED_TABLES = frozenset({UserSession.__tablename__, User.__tablename__})
_WATCHED_CLASSES = (UserSession, User)


@dataclass(frozen=True)
class _Entry:
    row: UserSession  # a detached copy, never attached to any session
    expires_at: datetime
    trusted_until: float  # time.monotonic()
    trusted_until_clock: datetime  # the aaa plugin's clock (an injected one in tests)


class TokenCache:
    """Verified tokens of one app, by the SHA-256 of their secret."""

    def __init__(self, ttl: float = TOKEN_CACHE_SECONDS,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.monotonic = monotonic
        self._entries: dict[str, _Entry] = {}
        self._generation = 0
        self._lock = threading.Lock()
        # A throwaway session (no engine) in which detached copies are made.
        self._copier = sessionmaker()

    @staticmethod
    def key(raw: str) -> str:
        """The cache key of a raw secret (its hash; the secret is never stored)."""
        return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()

    def get(self, raw: str, now: datetime) -> UserSession | None:
        """The request's own copy of a cached, unexpired token row, or None (ask the plugin)."""
        entry = self._entries.get(self.key(raw))
        if entry is None:
            return None
        if self.monotonic() >= entry.trusted_until or now >= entry.trusted_until_clock \
                or entry.expires_at <= now:
            self._entries.pop(self.key(raw), None)
            return None
        return db.session.merge(entry.row, load=False)

    def generation(self) -> int:
        """A number that changes whenever the cache is emptied (see :meth:`put`)."""
        return self._generation

    def put(self, raw: str, row: UserSession, generation: int, now: datetime) -> None:
        """Remember ``row`` (verified by the plugin) unless the cache was emptied meanwhile.

        ``generation`` is :meth:`generation` read before the plugin was asked: a
        revocation committed while this request verified the token empties the cache,
        and the row read before it must not be put back.
        """
        try:
            copier: Session = self._copier()
            copy = copier.merge(row, load=False)
            copier.expunge_all()
        except Exception:  # an unusual row (pending changes): just not cached
            return
        entry = _Entry(copy, row.expires_at, self.monotonic() + self.ttl,
                       now + timedelta(seconds=self.ttl))
        with self._lock:
            if generation != self._generation:
                return
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[self.key(raw)] = entry

    def clear(self) -> None:
        """Forget every entry (a ``sessions`` or ``users`` row changed in this process)."""
        with self._lock:
            self._generation += 1
            self._entries.clear()


def token_cache() -> TokenCache:
    """The current app's token cache."""
    return current_app.extensions[EXTENSION_KEY]  # type: ignore[no-any-return]


def _touches_watched(session: Session) -> bool:
    """Whether ``session`` holds changes to a token or user row."""
    return any(isinstance(obj, _WATCHED_CLASSES)
               for group in (session.new, session.dirty, session.deleted) for obj in group)


def _statement_touches_watched(state: Any) -> bool:
    """Whether an executed statement may write the ``sessions`` or ``users`` table."""
    if state.is_select:
        return False
    statement = state.statement
    table = getattr(statement, "table", None)
    if table is not None:  # an INSERT/UPDATE/DELETE
        return getattr(table, "name", None) in _WATCHED_TABLES
    return not hasattr(statement, "selected_columns")  # raw SQL: assume it might


def init_token_cache(app: Flask) -> TokenCache:
    """Give ``app`` its cache and empty it on every write to tokens or users."""
    cache = TokenCache()
    app.extensions[EXTENSION_KEY] = cache
    _install_session_events()
    return cache


_EVENTS_INSTALLED = False


def _install_session_events() -> None:
    """Listen (once per process) to the ORM sessions' flushes, commits and statements."""
    global _EVENTS_INSTALLED
    if _EVENTS_INSTALLED:
        return
    _EVENTS_INSTALLED = True

    def mark(session: Session) -> None:
        session.info["lts_tokens_changed"] = True
        _clear_current()

    @event.listens_for(Session, "before_flush")
    def _before_flush(session: Session, *_: Any) -> None:
        if _touches_watched(session):
            mark(session)

    @event.listens_for(Session, "do_orm_execute")
    def _on_execute(state: Any) -> None:
        if _statement_touches_watched(state):
            mark(state.session)

    @event.listens_for(Session, "after_commit")
    def _after_commit(session: Session) -> None:
        if session.info.pop("lts_tokens_changed", False):
            _clear_current()


def _clear_current() -> None:
    """Empty the current app's cache (no app, or an app without one: nothing to do)."""
    from flask import has_app_context

    if has_app_context():
        cache = current_app.extensions.get(EXTENSION_KEY)
        if cache is not None:
            cache.clear()
