"""The contract of an aaa plugin: authentication, authorization and accounting.

Views, the API and the CLI never check passwords, roles or ownership themselves: they
go through :mod:`lts.security` (decorators) and :mod:`lts.services.access` (one owned
object: ``load_owned``; every list: ``list_scope``), which ask the plugin selected by
the ``aaa_plugin`` setting (``authorize`` and ``visible_owner_ids``). Swapping the
plugin swaps the policy, for lists as for single objects.

The plugin knows nothing of HTTP: the caller passes the client address in, and the
plugin's clock is injected so expiry rules can be tested without sleeping.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from lts.models import User, UserSession
from lts.models.types import utcnow
from lts.plugins.base import Plugin

Clock = Callable[[], datetime]

#: The action that makes a user an administrator: acting on every user's objects.
ADMIN_ACTION = "admin.access"
#: What :meth:`AAAPlugin.visible_owner_ids` answers for "every owner's objects".
EVERY_OWNER = None

# Keys whose values never reach an audit row or a log line, whatever the caller passes.
SECRET_KEY_RE = re.compile(
    r"pass(word|wd|phrase)?|pwd|secret|token|api[_-]?key|authori[sz]ation|cookie|credential"
    r"|private",
    re.IGNORECASE,
)
REDACTED = "[redacted]"
MAX_DETAIL_TEXT = 500
UNKNOWN_NAME_DIGEST_CHARS = 12


def neutralise(text: str, limit: int | None = MAX_DETAIL_TEXT) -> str:
    r"""Make user-supplied text safe for a log line: CR, LF and other controls escaped.

    A username such as ``"bob\\nINFO login ok"`` must not forge a second log entry.
    """
    out = []
    for char in text[:limit] if limit else text:
        if char == "\r":
            out.append("\\r")
        elif char == "\n":
            out.append("\\n")
        elif ord(char) < 32 or ord(char) == 127:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return "".join(out)


def unknown_name_digest(secret: str, name: str) -> str:
    """A short keyed digest of a name that matched no account, for the audit trail.

    People type passwords into the username box; stored verbatim, a failed login would
    put them in every audit export (issue 11, finding 9). The digest still shows that
    attempts repeat a name (case and outer spaces ignored), and without the secret key
    nobody can test guesses against it.
    """
    normalised = (name or "").strip().lower().encode("utf-8")
    keyed = hmac.new(secret.encode("utf-8"), normalised, hashlib.sha256)
    return keyed.hexdigest()[:UNKNOWN_NAME_DIGEST_CHARS]


def scrub(value: Any, _key: str = "") -> Any:
    """Return ``value`` with secrets redacted (by key) and every string neutralised."""
    if _key and SECRET_KEY_RE.search(_key):
        return REDACTED
    if isinstance(value, Mapping):
        return {neutralise(str(k)): scrub(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [scrub(v) for v in value]
    if isinstance(value, str):
        return neutralise(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    return neutralise(str(value))


@dataclass(frozen=True)
class AuthResult:
    """The outcome of a password check.

    ``reason`` is for the audit trail only (``ok``, ``bad_credentials``, ``locked``,
    ``inactive``); callers show users one generic message whatever it says.
    """

    user: User | None
    reason: str

    @property
    def ok(self) -> bool:
        """Whether the credentials were accepted."""
        return self.user is not None and self.reason == "ok"


@dataclass(frozen=True)
class IssuedSecret:
    """A freshly issued session or token: the raw secret is shown once, never stored."""

    raw: str
    row: UserSession


class AAAPlugin(Plugin, ABC):
    """Abstract base of every aaa plugin; one instance per app, built at start-up.

    Loaded like every other kind (entry-point group ``lts.aaa``, same checks). Its
    settings (lockout, session lifetimes...) are the global settings it declares in
    ``settings``, read from ``self.app_config``. It never sees LTS's ``secret_key``:
    ``signing_key`` is a key derived from it for this plugin alone, for whatever the
    plugin signs (reset tokens).
    """

    kind: ClassVar[str] = "aaa"

    def __init__(self, config: Mapping[str, Any] | None = None,
                 app_config: Mapping[str, Any] | None = None, *, clock: Clock | None = None,
                 signing_key: str = "") -> None:
        super().__init__(config, app_config)
        self.clock: Clock = clock or utcnow
        self.signing_key = signing_key

    # -- authentication -------------------------------------------------------
    @abstractmethod
    def authenticate(self, username: str, password: str, *, ip: str | None = None
                     ) -> AuthResult:
        """Check a username and password, applying lockout and hash upgrades."""

    @abstractmethod
    def check_password(self, user: User, password: str, *, ip: str | None = None) -> bool:
        """Re-authentication of a logged-in user (counts towards lockout when wrong)."""

    @abstractmethod
    def needs_reauth(self, user: User, login_at: datetime | None = None) -> bool:
        """Whether a sensitive action must ask for the password again.

        ``login_at`` is when the caller's session last proved the password (its login or
        a later re-authentication); without it the user's last login is used.
        """

    @abstractmethod
    def open_session(self, user: User, *, ip: str | None = None, remember: bool = False
                     ) -> IssuedSecret:
        """Start a browser session; the cookie carries the raw secret."""

    @abstractmethod
    def verify_session(self, raw: str) -> UserSession | None:
        """Return the live browser session for ``raw`` (touching it), or None."""

    @abstractmethod
    def issue_token(self, user: User, name: str, ttl_hours: int | None = None, *,
                    ip: str | None = None) -> IssuedSecret:
        """Create an API bearer token."""

    @abstractmethod
    def verify_token(self, raw: str) -> UserSession | None:
        """Return the live API token for ``raw`` (touching it), or None."""

    @abstractmethod
    def revoke_token(self, session_id: int) -> bool:
        """Revoke one session or token by id; False when it was not live."""

    @abstractmethod
    def revoke_all(self, user: User, *, except_id: int | None = None) -> int:
        """Revoke every live session and token of ``user`` (but ``except_id``)."""

    def purge_sessions(self, *, keep_days: int = 30) -> int:
        """Delete sessions and tokens that ended over ``keep_days`` ago; return how many.

        Called hourly by the trading loop's housekeeping. Plugins that keep no session
        rows of their own have nothing to purge.
        """
        return 0

    @abstractmethod
    def change_password(self, user: User, current: str, new: str, *,
                        keep_session_id: int | None = None, ip: str | None = None) -> None:
        """Change a password after checking the current one; ends other sessions.

        A wrong ``current`` counts towards the lockout like a failed login; a locked
        account cannot change its password (raise :class:`lts.errors.AccountLocked`).
        """

    @abstractmethod
    def register(self, username: str, email: str, password: str) -> User:
        """Self-registration of a ``user`` account (callers check ``registration_open``)."""

    @abstractmethod
    def make_reset_token(self, identifier: str) -> tuple[User, str] | None:
        """Return the user named by username or email and a reset token, or None."""

    @abstractmethod
    def reset_password(self, token: str, new: str) -> User:
        """Set a new password from a reset token (single use, time-limited)."""

    # -- authorization --------------------------------------------------------
    @abstractmethod
    def authorize(self, user: User | None, action: str, resource: Any = None) -> bool:
        """Whether ``user`` may do ``action`` (on ``resource``, a model object or None)."""

    def visible_owner_ids(self, user: User | None, kind: str) -> frozenset[int] | None:
        """Whose objects of ``kind`` ``user`` may list: None for everyone's, else owner ids.

        ``kind`` is ``portfolio``, ``asset``, ``order``, ``position``, ``statistic``,
        ``audit``, ``token`` or ``user``. Every list of the app is filtered by this
        answer (:func:`lts.services.access.list_scope`), as every single object is by
        :meth:`authorize`, so the two cannot disagree by accident. The default derives
        it from :meth:`authorize`: nothing unless ``<kind>.list`` is allowed, everyone's
        for an administrator (``admin.access``), else the user's own.
        """
        if user is None or not self.authorize(user, f"{kind}.list"):
            return frozenset()
        if self.authorize(user, ADMIN_ACTION):
            return EVERY_OWNER
        return frozenset((int(user.id),))

    # -- accounting -----------------------------------------------------------
    @abstractmethod
    def account(self, user: User | None, action: str, resource: str | None = None,
                details: Mapping[str, Any] | None = None, outcome: str = "ok", *,
                ip: str | None = None, commit: bool = True) -> None:
        """Write an audit row; ``details`` are scrubbed of secrets and control characters."""
