"""The audit log: who did what to which resource, from where, and how it ended."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from lts.extensions import db
from lts.models.enums import AUDIT_OUTCOMES, check_in
from lts.models.types import UTCDateTime, utcnow


class AuditLog(db.Model):
    """One audited event. ``user_id`` is empty for anonymous events (failed logins).

    Rows outlive their user (``SET NULL``): deleting an account must not erase its trail.
    """

    __tablename__ = "audit_logs"
    __table_args__ = (CheckConstraint(check_in("outcome", AUDIT_OUTCOMES), name="outcome"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    action: Mapped[str] = mapped_column(String(64), index=True)
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    ip: Mapped[str | None] = mapped_column(String(45))
    resource: Mapped[str | None] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(8), default="ok", index=True)

    def __repr__(self) -> str:
        return f"<AuditLog {self.id} {self.action} {self.outcome}>"
