"""Portfolios and the assets they trade, with the plugins and configs chosen for each."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lts.extensions import db
from lts.models.enums import RISK_STATES, check_in
from lts.models.types import UTCDateTime, utcnow

if TYPE_CHECKING:
    from lts.models.trading import AssetDecision


class Portfolio(db.Model):
    """A user's pot of capital, split among its assets by the portfolio plugin.

    A user cannot be deleted while they own portfolios (``RESTRICT``): accounts are
    deactivated, and trading history is never removed as a side effect.
    """

    __tablename__ = "portfolios"
    __table_args__ = (
        UniqueConstraint("user_id", "name", name="uq_portfolios_user_id_name"),
        CheckConstraint(check_in("risk_state", RISK_STATES), name="risk_state"),
        CheckConstraint("total_capital >= 0", name="total_capital_non_negative"),
        CheckConstraint("portfolio_latency >= 1", name="portfolio_latency_positive"),
        CheckConstraint(
            "max_drawdown_pct IS NULL OR (max_drawdown_pct > 0 AND max_drawdown_pct <= 100)",
            name="max_drawdown_pct_range",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    is_active: Mapped[bool] = mapped_column(default=True)
    portfolio_plugin: Mapped[str] = mapped_column(String(64), default="equal_weight")
    portfolio_config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    total_capital: Mapped[float]
    # ISO 4217 code the portfolio's money is counted and shown in (display only: no
    # conversion happens anywhere).
    currency: Mapped[str] = mapped_column(String(3), default="USD", server_default="USD")
    last_execution: Mapped[datetime | None] = mapped_column(UTCDateTime())
    portfolio_latency: Mapped[int] = mapped_column(default=60)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    risk_state: Mapped[str] = mapped_column(String(16), default="active")
    max_drawdown_pct: Mapped[float | None]
    # When total_capital last changed (a deposit or withdrawal): the drawdown peak is
    # measured from equity samples after it (SPEC 2a). None: never changed.
    capital_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    assets: Mapped[list[Asset]] = relationship(
        back_populates="portfolio", cascade="all, delete-orphan", passive_deletes=True,
        order_by="Asset.id",
    )

    def __repr__(self) -> str:
        return f"<Portfolio {self.id} {self.name!r}>"


class Asset(db.Model):
    """One instrument traded inside a portfolio, with its pipeline, strategy and broker.

    Deleting a portfolio deletes its assets, but an asset that has orders cannot be
    deleted (orders ``RESTRICT``), so a portfolio with history is deactivated instead.
    Secrets inside ``broker_config`` are stored encrypted by the services layer.
    """

    __tablename__ = "assets"
    __table_args__ = (
        UniqueConstraint("portfolio_id", "symbol", name="uq_assets_portfolio_id_symbol"),
        CheckConstraint("allocated_capital >= 0", name="allocated_capital_non_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    portfolio_id: Mapped[int] = mapped_column(
        ForeignKey("portfolios.id", ondelete="CASCADE"), index=True
    )
    symbol: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100), default="")
    strategy_plugin: Mapped[str] = mapped_column(String(64), default="prediction_threshold")
    strategy_config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    broker_plugin: Mapped[str] = mapped_column(String(64), default="paper")
    broker_config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    pipeline_plugin: Mapped[str] = mapped_column(String(64), default="synthetic")
    pipeline_config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    allocated_capital: Mapped[float] = mapped_column(default=0.0)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    #: Stale-data guard (SPEC 2a): no opening order on a snapshot whose newest bar ended
    #: longer ago than this; None: 3 bar periods.
    max_data_age_minutes: Mapped[float | None]
    #: Set by the engine when the broker refuses the credentials (an expired or revoked
    #: token): no broker call for this asset until the user saves new credentials or
    #: resumes it. The broker's own stop loss / take profit protect its positions
    #: meanwhile (issue 13).
    paused_reason: Mapped[str | None] = mapped_column(String(500))
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    portfolio: Mapped[Portfolio] = relationship(back_populates="assets")
    # The strategy's latest decision (written by the engine, read by the API and pages).
    decision: Mapped[AssetDecision | None] = relationship(viewonly=True)

    def __repr__(self) -> str:
        return f"<Asset {self.id} {self.symbol}>"
