"""Runtime settings editable by admins (the Config table) and statistics samples."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from lts.extensions import db
from lts.models.types import UTCDateTime, utcnow


class ConfigEntry(db.Model):
    """A runtime setting; overrides the merged configuration for keys marked runtime."""

    __tablename__ = "config"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return f"<ConfigEntry {self.key}>"


class Statistic(db.Model):
    """One sample of a time series such as ``portfolio.3.equity``.

    ``portfolio_id`` / ``asset_id`` say whose series it is (both None: the loop's,
    administrators only); authorization joins on them, never parses ``key``. A
    deleted portfolio or asset takes its series with it (``CASCADE``, like a
    portfolio's assets), so a reused id never inherits someone else's history.
    Key names: :mod:`lts.models.statistic_keys`.
    """

    __tablename__ = "statistics"
    __table_args__ = (Index("ix_statistics_key_timestamp", "key", "timestamp"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100))
    value: Mapped[float]
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    portfolio_id: Mapped[int | None] = mapped_column(
        ForeignKey("portfolios.id", ondelete="CASCADE"), index=True)
    asset_id: Mapped[int | None] = mapped_column(
        ForeignKey("assets.id", ondelete="CASCADE"), index=True)

    def __repr__(self) -> str:
        return f"<Statistic {self.key}={self.value}>"
