"""Names of the statistics series, in one place: trading writes them, services read them.

A key is still a readable name (``portfolio.3.equity``), but ownership is never read
from it: every row also carries the ``portfolio_id`` or ``asset_id`` it belongs to
(migration 0010), and authorization joins on those. The builders return a
:class:`StatisticKey`, a ``str`` that remembers its owner, so the writer
(:func:`lts.trading.statistics.record`) fills the id columns from the keys the engine
already passes, with no second argument and no parsing.
"""

from __future__ import annotations

# Series of a portfolio, of an asset, and of the loop (no owner: administrators only).
EQUITY = "equity"
REALIZED_PNL = "realized_pnl"
CAPITAL_CHANGE = "capital_change"
UNREALIZED_PNL = "unrealized_pnl"
TICK_SECONDS = "loop.tick_seconds"

PORTFOLIO_SERIES = (EQUITY, REALIZED_PNL, CAPITAL_CHANGE)
GLOBAL_SERIES = (TICK_SECONDS,)
ASSET_SERIES = (UNREALIZED_PNL,)
KEY_MAX_LENGTH = 100  # the width of statistics.key


class StatisticKey(str):
    """A series key that knows the portfolio or asset it belongs to (None: global)."""

    portfolio_id: int | None
    asset_id: int | None

    def __new__(cls, text: str, *, portfolio_id: int | None = None,
                asset_id: int | None = None) -> StatisticKey:
        """The text of the key, with its owner's id attached."""
        key = super().__new__(cls, text)
        key.portfolio_id = portfolio_id
        key.asset_id = asset_id
        return key


def portfolio_key(portfolio_id: int, name: str) -> StatisticKey:
    """Key of the portfolio series ``name`` (``portfolio_key(3, EQUITY)``)."""
    return StatisticKey(f"portfolio.{portfolio_id}.{name}", portfolio_id=portfolio_id)


def asset_key(asset_id: int, name: str) -> StatisticKey:
    """Key of the asset series ``name`` (``asset_key(7, UNREALIZED_PNL)``)."""
    return StatisticKey(f"asset.{asset_id}.{name}", asset_id=asset_id)


def global_key(name: str = TICK_SECONDS) -> StatisticKey:
    """Key of a series that belongs to nobody (the loop's): administrators read it."""
    return StatisticKey(name)


def owner_ids(key: str) -> tuple[int | None, int | None]:
    """``(portfolio_id, asset_id)`` a key was built for; a plain string has none."""
    return (getattr(key, "portfolio_id", None), getattr(key, "asset_id", None))
