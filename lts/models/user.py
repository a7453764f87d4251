"""Users and their sessions (browser logins and API bearer tokens)."""

from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lts.extensions import db
from lts.models.enums import ROLES, SESSION_KINDS, check_in
from lts.models.types import UTCDateTime, utcnow


class User(UserMixin, db.Model):
    """A person who logs in; owns portfolios. ``role`` decides what else they may do."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(check_in("role", ROLES), name="role"),
        CheckConstraint("failed_logins >= 0", name="failed_logins_non_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="user")
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Display preferences (lts.services.preferences checks the values): an IANA zone
    # every page shows times in, and how numbers group and mark decimals.
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    number_format: Mapped[str] = mapped_column(String(8), default="en", server_default="en")

    sessions: Mapped[list[UserSession]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def is_admin(self) -> bool:
        """Whether this user has the admin role."""
        return self.role == "admin"

    def __repr__(self) -> str:
        return f"<User {self.id} {self.username!r} {self.role}>"


class UserSession(db.Model):
    """One browser login or one API token; only the SHA-256 of the secret is stored.

    A browser cookie refers to a row here, so logout, revocation and deactivation end
    the session for real: a replayed cookie finds its row revoked.
    """

    __tablename__ = "sessions"
    __table_args__ = (CheckConstraint(check_in("kind", SESSION_KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(8), default="web")
    name: Mapped[str | None] = mapped_column(String(100))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ip: Mapped[str | None] = mapped_column(String(45))

    user: Mapped[User] = relationship(back_populates="sessions")

    def __repr__(self) -> str:
        return f"<UserSession {self.id} {self.kind} user={self.user_id}>"
