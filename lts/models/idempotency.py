"""Idempotency keys: the first answer to an order-creating POST, kept to replay it.

A client that timed out may resend the same request with the same ``Idempotency-Key``
header and must never place a second order (SPEC 2a). One row per user and key holds
what identifies the request (method, path, body hash) and, once the first request
finished, its status code and body; a row without ``completed_at`` is still running.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint, delete
from sqlalchemy.orm import Mapped, Session, mapped_column

from lts.extensions import db
from lts.models.types import UTCDateTime, utcnow

# How long an answer is kept for replay; older keys are purged and may be used afresh.
IDEMPOTENCY_TTL = timedelta(hours=24)
MAX_KEY_LENGTH = 255


class IdempotencyKey(db.Model):
    """One user's key, the request it was first sent with, and that request's answer."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("user_id", "key"),
        CheckConstraint("status_code IS NULL OR (status_code >= 100 AND status_code <= 599)",
                        name="status_code_http"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Keys die with their user: they only make sense to the client that sent them.
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(255))
    body_sha256: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None]
    response_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    def __repr__(self) -> str:
        return f"<IdempotencyKey {self.id} user={self.user_id} {self.method} {self.path}>"


def purge_expired_keys(session: Session, now: datetime) -> int:
    """Delete keys older than IDEMPOTENCY_TTL (the loop's hourly housekeeping); how many.

    Here, beside the table, because the loop (``lts.trading``) must not import services.
    The caller commits.
    """
    result = session.execute(delete(IdempotencyKey).where(
        IdempotencyKey.created_at < now - IDEMPOTENCY_TTL))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
