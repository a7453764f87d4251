"""Pipeline ``oanda``: candles of the asset's instrument from OANDA v20.

``GET /v3/instruments/{instrument}/candles`` with the configured ``granularity`` and
price component (``M`` mid, ``B`` bid, ``A`` ask). v20 stamps a candle with the start of
its period and also sends the forming one (``complete: false``): only complete candles
that ended by ``now`` are kept (:func:`lts.plugins.bars.complete_bars`), on a UTC index.
Daily candles are asked aligned on 00:00 UTC (``dailyAlignment=0``,
``alignmentTimezone=UTC``) so they share the grid of every other bar in LTS.

``bars(asset, start, end)`` pages through ``from``/``to`` windows of at most 5,000
candles (v20's limit). The HTTP session, timeouts and the retry rules (reads retried on
429/5xx with capped backoff) are the account's shared ones (:mod:`lts.plugins.oanda_client`).
This plugin has its own ``api_token`` (a secret, like the broker's): pipelines never see
the broker's config.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from marshmallow import fields, validate

from lts.plugins.bars import COLUMNS, bars_between, complete_bars
from lts.plugins.base import (
    AssetInfo,
    CredentialsRefused,
    MarketSnapshot,
    PipelinePlugin,
    PluginError,
)
from lts.plugins.oanda_client import (
    OandaConnection,
    V20AuthError,
    V20ConnectionError,
    V20Error,
    V20Timeout,
    client_for,
    format_time,
    to_instrument,
)

#: v20 granularities LTS can put on a fixed grid (weekly and monthly ones cannot).
GRANULARITIES = {
    "S5": 5, "S10": 10, "S15": 15, "S30": 30, "M1": 60, "M2": 120, "M4": 240, "M5": 300,
    "M10": 600, "M15": 900, "M30": 1800, "H1": 3600, "H2": 7200, "H3": 10800,
    "H4": 14400, "H6": 21600, "H8": 28800, "H12": 43200, "D": 86400,
}
_PAGE = 5000
_COMPONENTS = {"M": "mid", "B": "bid", "A": "ask"}


class OandaPipelineConfig(OandaConnection):
    """The connection, and which candles to read."""

    granularity = fields.String(
        load_default="M5", validate=validate.OneOf(list(GRANULARITIES)),
        metadata={"description": "Candle period: S5 ... M1, M5, M15, H1, H4 ... D."})
    price = fields.String(
        load_default="M", validate=validate.OneOf(list(_COMPONENTS)),
        metadata={"description": "Price component: M (mid), B (bid) or A (ask)."})
    lookback = fields.Integer(
        load_default=200, validate=validate.Range(min=2, max=_PAGE - 1),
        metadata={"description": "Complete candles in each snapshot."})


def _empty() -> pd.DataFrame:
    """A frame with no bar, the right columns and a UTC index."""
    return pd.DataFrame({c: pd.Series(dtype="float64") for c in COLUMNS},
                        index=pd.DatetimeIndex([], tz="UTC", name="time"))


class OandaPipeline(PipelinePlugin):
    """Complete v20 candles (mid, bid or ask) of the asset's instrument."""

    name = "oanda"
    interface_version = "1.0"
    description = "Complete candles from OANDA v20 (practice or live), stamped by period start."
    config_schema = OandaPipelineConfig

    @property
    def period(self) -> timedelta:
        """The candle period of the configured granularity."""
        return timedelta(seconds=GRANULARITIES[str(self.config["granularity"])])

    def _fetch(self, asset: AssetInfo, params: dict[str, Any]) -> pd.DataFrame:
        """One candles call as a frame (complete candles only, sorted, unique)."""
        if not self.config.get("api_token"):
            raise PluginError("oanda pipeline: api_token must be set")
        if self.config.get("environment") == "live" and not self.config.get("allow_live"):
            raise PluginError("oanda pipeline: the live environment needs allow_live")
        query = {"granularity": self.config["granularity"], "price": self.config["price"],
                 **params}
        if self.config["granularity"] == "D":
            query.update(dailyAlignment=0, alignmentTimezone="UTC")
        instrument = to_instrument(asset.symbol)
        try:
            rows = client_for(self.config).candles(instrument, query)
        except V20AuthError as exc:
            raise CredentialsRefused(f"oanda refused the credentials ({exc.status}): check "
                              f"api_token in the asset's pipeline config") from exc
        except (V20Timeout, V20ConnectionError, V20Error) as exc:
            raise PluginError(f"oanda candles of {instrument}: {exc}") from exc
        key = _COMPONENTS[str(self.config["price"])]
        done = [row for row in rows if row.get("complete") and key in row]
        if not done:
            return _empty()
        frame = pd.DataFrame({
            "open": [float(row[key]["o"]) for row in done],
            "high": [float(row[key]["h"]) for row in done],
            "low": [float(row[key]["l"]) for row in done],
            "close": [float(row[key]["c"]) for row in done],
            "volume": [float(row.get("volume", 0)) for row in done],
        }, index=pd.DatetimeIndex(pd.to_datetime([row["time"] for row in done], utc=True,
                                                 format="ISO8601"), name="time"))
        frame = frame[~frame.index.duplicated(keep="last")].sort_index()
        return frame

    def snapshot(self, asset: AssetInfo, now: datetime) -> MarketSnapshot:
        """The last ``lookback`` complete candles ending by ``now``."""
        lookback = int(self.config["lookback"])
        frame = self._fetch(asset, {"count": lookback + 1, "to": format_time(now)})
        frame = complete_bars(frame, now, self.period).tail(lookback)
        return MarketSnapshot(symbol=asset.symbol, candles=frame, as_of=now)

    def bars(self, asset: AssetInfo, start: datetime, end: datetime) -> pd.DataFrame:
        """Complete candles stamped in [start, end), paged 5,000 at a time."""
        if start >= end:
            return _empty()
        period = self.period
        pages = []
        cursor = start
        while cursor < end:
            stop = min(end, cursor + period * (_PAGE - 1))
            pages.append(self._fetch(asset, {"from": format_time(cursor),
                                             "to": format_time(stop)}))
            cursor = stop
        frame = pd.concat([p for p in pages if not p.empty]) if any(
            not p.empty for p in pages) else _empty()
        frame = frame[~frame.index.duplicated(keep="last")].sort_index()
        frame = bars_between(frame, start, end, period)
        return frame[frame.index < pd.Timestamp(end)]


