"""All LTS models, imported here so Alembic and ``db.create_all`` see every table."""

from lts.models.audit import AuditLog
from lts.models.backtest import BacktestRun
from lts.models.idempotency import IdempotencyKey
from lts.models.paper import PaperOrder, PaperPositionCheck
from lts.models.portfolio import Asset, Portfolio
from lts.models.settings import ConfigEntry, Statistic
from lts.models.trading import AssetDecision, Order, Position, ProcessClaim, SchedulerLease
from lts.models.types import UTCDateTime, utcnow
from lts.models.user import User, UserSession

__all__ = [
    "Asset",
    "AssetDecision",
    "AuditLog",
    "BacktestRun",
    "ConfigEntry",
    "IdempotencyKey",
    "Order",
    "PaperOrder",
    "PaperPositionCheck",
    "Portfolio",
    "Position",
    "ProcessClaim",
    "SchedulerLease",
    "Statistic",
    "UTCDateTime",
    "User",
    "UserSession",
    "utcnow",
]
