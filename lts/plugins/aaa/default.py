"""The built-in ``default`` aaa plugin: role-based, owners act on their own objects.

Rules it implements (the README's Security section lists the settings behind them):

* passwords are argon2id (:mod:`lts.plugins.aaa.passwords`); hashes made with older
  parameters are upgraded at the next successful login;
* ``max_failed_logins`` wrong passwords in a row lock the account for
  ``lockout_minutes``; the counter lives in the users table, so it holds across
  processes and workers;
* browser sessions and API tokens are rows of the sessions table holding only the
  SHA-256 of their secret; a browser session ends after ``session_idle_minutes``
  without a request and ``session_lifetime_hours`` after login;
* ``admin`` may do everything; ``user`` acts only on objects it owns and never on
  ``admin.*`` actions; an inactive account may do nothing.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadData, TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import Select, bindparam, delete, func, or_, select, update
from sqlalchemy.orm import contains_eager

from lts.database import immediate_writes, retry_unit, write_transaction, write_unit
from lts.errors import AccountLocked, ValidationFailed
from lts.extensions import db
from lts.models import AuditLog, User, UserSession
from lts.plugins.aaa.base import (
    AAAPlugin,
    AuthResult,
    IssuedSecret,
    neutralise,
    scrub,
    unknown_name_digest,
)
from lts.plugins.aaa.passwords import (
    hash_password,
    needs_rehash,
    password_problems,
    verify_password,
)
from lts.plugins.aaa.users import create_user, find_user
from lts.plugins.base import PluginSetting

audit_logger = logging.getLogger("lts.audit")
log = logging.getLogger(__name__)

REAUTH_AFTER = timedelta(minutes=10)
RESET_MAX_AGE_SECONDS = 30 * 60
RESET_SALT = "lts.password-reset"
# last_used_at is written at most this often: one UPDATE per request would be wasteful.
TOUCH_EVERY = timedelta(seconds=60)
REMEMBER_NAME = "remember-me"
ACCOUNT_LOCKED_MESSAGE = ("the account is locked after too many wrong passwords: try again "
                          "later, or ask an administrator to unlock it")


def hash_secret(raw: str) -> str:
    """SHA-256 hex of a session or token secret: what the sessions table stores."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


@functools.cache
def _live_row_statement() -> Select[Any]:
    """The token lookup of every authenticated request, built once (values are bound).

    Building the join, eager load and filters cost ~0.15 ms a request, more than
    SQLite spends answering it.
    """
    return (select(UserSession).join(UserSession.user)
            .options(contains_eager(UserSession.user))
            .where(UserSession.token == bindparam("token"),
                   UserSession.kind == bindparam("kind")))


def owner_id(resource: Any) -> int | None:
    """Return the id of the user owning ``resource`` (via ``portfolio``/``asset``).

    Users own themselves; portfolios, sessions and tokens carry ``user_id``; assets
    belong to a portfolio, orders and positions to an asset. A later model is covered
    as soon as it has a ``user_id`` or a ``portfolio``/``asset`` relationship.
    """
    if isinstance(resource, User):
        return resource.id
    user_id = getattr(resource, "user_id", None)
    if user_id is not None:
        return int(user_id)
    for parent_attr in ("portfolio", "asset"):
        parent = getattr(resource, parent_attr, None)
        if parent is not None:
            return owner_id(parent)
    return None


class DefaultAAA(AAAPlugin):
    """Role-based access with owner checks, DB-backed sessions, tokens and lockout."""

    name = "default"
    interface_version = "1.0"
    # LTS's own settings this plugin applies (validated by LTS's configuration).
    settings = (
        PluginSetting("session_idle_minutes", int, 30, "Sessions end after this idle time."),
        PluginSetting("session_lifetime_hours", int, 12, "Sessions end this long after login."),
        PluginSetting("remember_me_days", int, 0, "Remember-me lifetime; 0 disables it."),
        PluginSetting("token_ttl_hours", int, 720, "Default lifetime of API tokens."),
        PluginSetting("max_failed_logins", int, 5, "Failed logins before a lockout."),
        PluginSetting("lockout_minutes", int, 30, "How long a locked account stays locked."),
    )

    _dummy_hash: str | None = None

    # -- authentication -------------------------------------------------------
    def _equalise_timing(self, password: str) -> None:
        """Spend one verification on a dummy hash so unknown usernames are not faster."""
        if DefaultAAA._dummy_hash is None:
            DefaultAAA._dummy_hash = hash_password(secrets.token_urlsafe(16))
        verify_password(DefaultAAA._dummy_hash, password)

    def _record_failure(self, user: User, ip: str | None, action: str) -> None:
        """Count one wrong password in the database; lock the account at the limit."""
        # An atomic increment: two workers failing at once both count.
        db.session.execute(
            update(User).where(User.id == user.id)
            .values(failed_logins=User.failed_logins + 1)
        )
        db.session.commit()
        db.session.refresh(user)
        self.account(user, action, f"user:{user.id}", {"reason": "bad_credentials",
                                                       "failed_logins": user.failed_logins},
                     "denied", ip=ip)
        if user.failed_logins >= self.app_config["max_failed_logins"]:
            user.locked_until = self.clock() + timedelta(minutes=self.app_config["lockout_minutes"])
            user.failed_logins = 0
            db.session.commit()
            self.account(user, "account.locked", f"user:{user.id}",
                         {"minutes": self.app_config["lockout_minutes"]}, "denied", ip=ip)

    def is_locked(self, user: User) -> bool:
        """Whether the account is inside a lockout period."""
        return user.locked_until is not None and user.locked_until > self.clock()

    def authenticate(self, username: str, password: str, *, ip: str | None = None
                     ) -> AuthResult:
        """Check credentials; count failures; upgrade an outdated hash on success."""
        user = find_user(username) if username else None
        if user is None:
            self._equalise_timing(password)
            self.account(None, "login.failed", None,
                         {"username_digest": unknown_name_digest(self.signing_key,
                                                                 username),
                          "reason": "unknown_user"}, "denied", ip=ip)
            return AuthResult(None, "bad_credentials")
        if self.is_locked(user):
            self._equalise_timing(password)
            self.account(user, "login.locked", f"user:{user.id}", {"username": username},
                         "denied", ip=ip)
            return AuthResult(user, "locked")
        if not verify_password(user.password_hash, password):
            self._record_failure(user, ip, "login.failed")
            return AuthResult(user, "bad_credentials")
        if not user.is_active:
            self.account(user, "login.failed", f"user:{user.id}", {"reason": "inactive"},
                         "denied", ip=ip)
            return AuthResult(user, "inactive")
        if needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        user.failed_logins = 0
        user.locked_until = None
        user.last_login_at = self.clock()
        db.session.commit()
        return AuthResult(user, "ok")

    def check_password(self, user: User, password: str, *, ip: str | None = None) -> bool:
        """Re-authenticate; a wrong password counts like a failed login."""
        if self.is_locked(user):
            self.account(user, "reauth.locked", f"user:{user.id}", None, "denied", ip=ip)
            return False
        if not verify_password(user.password_hash, password or ""):
            self._record_failure(user, ip, "reauth.failed")
            return False
        user.failed_logins = 0
        user.last_login_at = self.clock()
        db.session.commit()
        return True

    def needs_reauth(self, user: User, login_at: datetime | None = None) -> bool:
        """Say whether the session's last password check is older than ten minutes."""
        last = login_at or user.last_login_at
        return last is None or self.clock() - last > REAUTH_AFTER

    def _new_secret(self, user: User, kind: str, name: str | None, lifetime: timedelta,
                    ip: str | None) -> IssuedSecret:
        """Store a new session/token row holding only the hash of a fresh random secret."""
        raw = secrets.token_urlsafe(32)
        now = self.clock()
        row = UserSession(user_id=user.id, token=hash_secret(raw), kind=kind, name=name,
                          created_at=now, expires_at=now + lifetime, last_used_at=now,
                          ip=ip)
        db.session.add(row)
        db.session.commit()
        return IssuedSecret(raw=raw, row=row)

    def open_session(self, user: User, *, ip: str | None = None, remember: bool = False
                     ) -> IssuedSecret:
        """Open a browser session: lifetime hours, or remember-me days when asked."""
        days = self.app_config["remember_me_days"]
        if remember and days > 0:
            return self._new_secret(user, "web", REMEMBER_NAME, timedelta(days=days), ip)
        return self._new_secret(user, "web", None,
                                timedelta(hours=self.app_config["session_lifetime_hours"]), ip)

    def _live_row(self, raw: str, kind: str) -> UserSession | None:
        """Return the unrevoked, unexpired ``kind`` row for ``raw`` of an active user."""
        if not raw or len(raw) > 200:
            return None
        # One query for the row and its user (every caller needs both). Nothing is cached
        # beyond the request's session: revocation and deactivation act on the next call.
        row = db.session.scalar(_live_row_statement(),
                                {"token": hash_secret(raw), "kind": kind})
        now = self.clock()
        if row is None or row.revoked_at is not None or row.expires_at <= now:
            return None
        if not row.user.is_active:
            return None
        return row

    def _touch(self, row: UserSession) -> None:
        """Record use, at most once per :data:`TOUCH_EVERY`.

        Concurrent requests with one token race to touch it. The write takes the write
        lock from its first statement (``BEGIN IMMEDIATE`` on SQLite) and only moves an
        old stamp forward, so the loser waits on the lock and changes nothing, instead
        of failing with "database is locked" when its read transaction upgrades.
        """
        now = self.clock()
        if row.last_used_at is not None and now - row.last_used_at < TOUCH_EVERY:
            return

        def touch() -> None:
            with write_transaction(db.session()) as session:
                session.execute(
                    update(UserSession)
                    .where(UserSession.id == row.id,
                           or_(UserSession.last_used_at.is_(None),
                               UserSession.last_used_at <= now - TOUCH_EVERY))
                    .values(last_used_at=now)
                    .execution_options(synchronize_session=False))

        try:
            retry_unit(touch, what="session touch")
        except Exception:
            # Bookkeeping only: the request it authenticates goes on.
            log.exception("could not record the use of session %s", row.id)

    def verify_session(self, raw: str) -> UserSession | None:
        """Return a live browser session; one idle too long is ended (revoked) here."""
        row = self._live_row(raw, "web")
        if row is None:
            return None
        idle = timedelta(minutes=self.app_config["session_idle_minutes"])
        last = row.last_used_at or row.created_at
        if row.name != REMEMBER_NAME and self.clock() - last > idle:
            with write_unit(db.session()):
                row.revoked_at = self.clock()
            self.account(row.user, "session.expired", f"session:{row.id}",
                         {"reason": "idle"}, "ok", ip=row.ip)
            return None
        self._touch(row)
        return row

    def issue_token(self, user: User, name: str, ttl_hours: int | None = None, *,
                    ip: str | None = None) -> IssuedSecret:
        """Issue an API bearer token named ``name``, valid ``ttl_hours`` (or the default)."""
        hours = ttl_hours or self.app_config["token_ttl_hours"]
        issued = self._new_secret(user, "api", name, timedelta(hours=hours), ip)
        self.account(user, "token.create", f"token:{issued.row.id}",
                     {"name": name, "ttl_hours": hours}, ip=ip)
        return issued

    def verify_token(self, raw: str) -> UserSession | None:
        """Return a live API token (touching ``last_used_at``)."""
        row = self._live_row(raw, "api")
        if row is not None:
            self._touch(row)
        return row

    def revoke_token(self, session_id: int) -> bool:
        """Revoke one session or token; False when missing or already ended."""
        row = db.session.get(UserSession, session_id)
        if row is None or row.revoked_at is not None:
            return False
        row.revoked_at = self.clock()
        db.session.commit()
        return True

    def purge_sessions(self, *, keep_days: int = 30) -> int:
        """Delete rows that expired or were revoked over ``keep_days`` ago.

        Ended rows are kept for a while so the audit trail's ``session:<id>`` references
        stay explainable; after that they only grow the table the login path reads.
        """
        cutoff = self.clock() - timedelta(days=keep_days)
        with write_transaction(db.session()):
            result = db.session.execute(delete(UserSession).where(
                or_(UserSession.expires_at < cutoff, UserSession.revoked_at < cutoff)))
        purged = int(result.rowcount or 0)
        if purged:
            self.account(None, "session.purged", "sessions",
                         {"rows": purged, "ended_before": cutoff.isoformat()}, "ok")
        return purged

    def revoke_all(self, user: User, *, except_id: int | None = None) -> int:
        """Revoke every live session and token of ``user`` except ``except_id``."""
        now = self.clock()
        statement = (update(UserSession)
                     .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
                     .values(revoked_at=now))
        if except_id is not None:
            statement = statement.where(UserSession.id != except_id)
        count = db.session.execute(statement).rowcount
        db.session.commit()
        return int(count or 0)

    def change_password(self, user: User, current: str, new: str, *,
                        keep_session_id: int | None = None, ip: str | None = None) -> None:
        """Check the current password like a login, then the policy; store; end the others.

        Without this, the form answered "is not correct" to any number of guesses and
        then changed the password of a locked account (issue 11, finding 2): a wrong
        current password counts towards the lockout, and a locked account cannot change
        its password until the lockout ends (or an admin unlocks it).
        """
        if self.is_locked(user):
            self._equalise_timing(current or "")
            self.account(user, "password.change.locked", f"user:{user.id}", None, "denied",
                         ip=ip)
            raise AccountLocked(ACCOUNT_LOCKED_MESSAGE,
                                {"current_password": ["cannot be checked while the account "
                                                      "is locked"]})
        if not verify_password(user.password_hash, current or ""):
            self._record_failure(user, ip, "password.change.failed")
            raise ValidationFailed("the password was not changed",
                                   {"current_password": ["is not correct"]})
        problems = password_problems(new or "", username=user.username, email=user.email)
        if problems:
            self.account(user, "password.change.failed", f"user:{user.id}",
                         {"reason": "policy"}, "denied", ip=ip)
            raise ValidationFailed("the password was not changed", {"new_password": problems})
        user.password_hash = hash_password(new)
        user.failed_logins = 0
        user.last_login_at = self.clock()
        db.session.commit()
        ended = self.revoke_all(user, except_id=keep_session_id)
        self.account(user, "password.change", f"user:{user.id}", {"sessions_ended": ended},
                     ip=ip)

    def register(self, username: str, email: str, password: str) -> User:
        """Create a ``user`` account through the users service (policy applies)."""
        user = create_user(username, email, "user", password)
        self.account(user, "user.register", f"user:{user.id}", {"username": user.username})
        return user

    def _serializer(self) -> URLSafeTimedSerializer:
        """Build a signed, timestamped serializer running on the plugin's clock."""
        clock = self.clock

        class _ClockSigner(TimestampSigner):
            def get_timestamp(self) -> int:
                return int(clock().timestamp())

        return URLSafeTimedSerializer(self.signing_key, salt=RESET_SALT,
                                      signer=_ClockSigner)

    @staticmethod
    def _fingerprint(user: User) -> str:
        """Fingerprint the password hash: a used reset token stops working."""
        return hashlib.sha256(user.password_hash.encode("utf-8")).hexdigest()[:20]

    def make_reset_token(self, identifier: str) -> tuple[User, str] | None:
        """Find an active user by username or email and sign a 30-minute reset token."""
        identifier = (identifier or "").strip()
        if not identifier:
            return None
        user = db.session.scalar(select(User).where(or_(
            func.lower(User.username) == identifier.lower(),
            func.lower(User.email) == identifier.lower())))
        if user is None or not user.is_active:
            return None
        token = self._serializer().dumps({"u": user.id, "f": self._fingerprint(user)})
        return user, token

    def reset_password(self, token: str, new: str) -> User:
        """Check the token (signature, age, not yet used), the policy, then store."""
        invalid = ValidationFailed("the reset link is invalid or has expired",
                                   {"token": ["is invalid or has expired"]})
        try:
            data = self._serializer().loads(token, max_age=RESET_MAX_AGE_SECONDS)
        except BadData:
            raise invalid from None
        user = db.session.get(User, data.get("u")) if isinstance(data, dict) else None
        if user is None or not user.is_active or data.get("f") != self._fingerprint(user):
            raise invalid
        problems = password_problems(new or "", username=user.username, email=user.email)
        if problems:
            raise ValidationFailed("the password was not changed", {"password": problems})
        user.password_hash = hash_password(new)
        user.failed_logins = 0
        user.locked_until = None
        db.session.commit()
        ended = self.revoke_all(user)
        self.account(user, "password.reset", f"user:{user.id}", {"sessions_ended": ended})
        return user

    # -- authorization --------------------------------------------------------
    def authorize(self, user: User | None, action: str, resource: Any = None) -> bool:
        """Inactive: nothing. Admin: everything. User: own objects, no ``admin.*``."""
        if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
            return False
        if user.role == "admin":
            return True
        if action.startswith("admin."):
            return False
        if resource is None:
            return True
        return owner_id(resource) == user.id

    # -- accounting -----------------------------------------------------------
    @staticmethod
    def _store_audit_row(row: AuditLog) -> None:
        """Commit one audit row in a write unit that cannot fail a read.

        A GET request's denial audit runs in a read transaction: on SQLite it gets a
        ``BEGIN IMMEDIATE`` unit of its own (:func:`~lts.database.write_unit`), retried
        if the database refuses it; if it still fails, a read is answered anyway and
        the failure logged, while a writing request fails as a whole.
        """
        def store() -> None:
            with write_unit(db.session()) as session:
                session.add(row)

        try:
            retry_unit(store, what=f"audit row {row.action}")
        except Exception:
            if immediate_writes():
                raise
            log.exception("audit row %s could not be stored", row.action)

    def account(self, user: User | None, action: str, resource: str | None = None,
                details: Mapping[str, Any] | None = None, outcome: str = "ok", *,
                ip: str | None = None, commit: bool = True) -> None:
        """Store one audit row (secrets redacted, CR/LF escaped) and log it."""
        clean = scrub(dict(details)) if details else None
        row = AuditLog(user_id=user.id if user is not None else None,
                       action=neutralise(action)[:64], timestamp=self.clock(),
                       details=clean, ip=(ip or None) and neutralise(ip)[:45],
                       resource=resource and neutralise(resource)[:100], outcome=outcome)
        if commit:
            self._store_audit_row(row)
        else:
            db.session.add(row)
        audit_logger.info("audit action=%s outcome=%s user=%s resource=%s ip=%s",
                          row.action, outcome, row.user_id, row.resource, row.ip)
