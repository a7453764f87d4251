"""Runtime settings editable by admins (the Config table) and statistics samples."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String
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
    """One sample of a time series such as ``portfolio.3.equity``."""

    __tablename__ = "statistics"
    __table_args__ = (Index("ix_statistics_key_timestamp", "key", "timestamp"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100))
    value: Mapped[float]
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def __repr__(self) -> str:
        return f"<Statistic {self.key}={self.value}>"
