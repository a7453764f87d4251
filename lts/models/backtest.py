"""Stored backtest runs: what was asked, how far it got, and what it produced.

A run is started from the dashboard or the API (:mod:`lts.services.backtests`) and
replayed in a background thread; the row is the only link between the request that
started it and the pages that poll it, so everything a report shows lives here:

- ``parameters``: the range, the assets and the plugin configs, secrets masked;
- ``plugin_versions``: the plugins the run was made with (kind -> name, versions);
- ``metrics``: the report's metrics (portfolio and per asset), gaps, errors, halts;
- ``equity``: the curve, downsampled to at most ``MAX_CURVE_POINTS`` points;
- ``trades``: every closed trade; ``candles``: each symbol's bars for the chart.

``runner`` names the process replaying the run and ``heartbeat_at`` is moved with every
progress write, so a run left ``running`` by a process that died can be told from one
that is still going (and marked failed).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from lts.extensions import db
from lts.models.enums import check_in
from lts.models.types import UTCDateTime, utcnow

BACKTEST_STATUSES = ("queued", "running", "done", "failed")
ACTIVE_BACKTEST_STATUSES = ("queued", "running")
#: The equity curve kept per run: enough for a chart, bounded whatever the range.
MAX_CURVE_POINTS = 2_000


class BacktestRun(db.Model):
    """One backtest of a user's portfolio over a range, and its stored report."""

    __tablename__ = "backtest_runs"
    __table_args__ = (
        CheckConstraint(check_in("status", BACKTEST_STATUSES), name="status"),
        CheckConstraint("progress_done >= 0 AND progress_total >= 0", name="progress"),
        Index("ix_backtest_runs_user_id_created_at", "user_id", "created_at"),
        Index("ix_backtest_runs_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Runs are the owner's notes: they go with the user, never block deleting one.
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # A deleted portfolio keeps its runs (its name and settings are in ``parameters``).
    portfolio_id: Mapped[int | None] = mapped_column(
        ForeignKey("portfolios.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(8), default="queued")
    progress_done: Mapped[int] = mapped_column(default=0)
    progress_total: Mapped[int] = mapped_column(default=0)
    date_from: Mapped[datetime] = mapped_column(UTCDateTime())
    date_to: Mapped[datetime] = mapped_column(UTCDateTime())
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    plugin_versions: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    equity: Mapped[list[Any] | None] = mapped_column(JSON)
    trades: Mapped[list[Any] | None] = mapped_column(JSON)
    candles: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    runner: Mapped[str | None] = mapped_column(String(200))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def is_active(self) -> bool:
        """Whether the run is still queued or running (its page keeps polling)."""
        return self.status in ACTIVE_BACKTEST_STATUSES

    @property
    def percent(self) -> int:
        """Progress in whole percent (0 before the total is known)."""
        if not self.progress_total:
            return 0
        return min(100, self.progress_done * 100 // self.progress_total)

    def __repr__(self) -> str:
        return f"<BacktestRun {self.id} {self.status} {self.progress_done}/{self.progress_total}>"
