"""Older bars for the broker's protective checks, and a record of those it could not get.

A simulating broker (the paper broker) checks stop losses, take profits and resting
orders on every bar since its previous check (SPEC 2a, "Protection never lapses"). When
the loop was down, or a portfolio runs less often than its pipeline's window reaches,
the snapshot lacks some of those bars: the broker asks for them through
``snapshot.history(start, end)``, which the engine sets to a :class:`BarsHistory`.

The loader calls the asset's pipeline ``bars()`` under the plugin timeout guard, in a
worker thread of its own: ``mark`` itself runs in the engine's plugin worker, which
cannot wait on itself. It is given half the plugin timeout, so a hanging pipeline still
leaves ``mark`` time to finish on the bars it has. Every range it could not load is
audited as ``trading.bars_missing`` on the asset (shown on the asset page and in the
loop's recent errors) and returned as a warning for the tick report: never skipped
silently.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import NoReturn

import pandas as pd
from flask import Flask
from sqlalchemy.orm import Session

from lts.database import write_transaction
from lts.plugins.base import AssetInfo, MarketSnapshot, PipelinePlugin, PluginError
from lts.trading.errors import PluginCallError
from lts.trading.orders import audit
from lts.trading.plugin_calls import PluginCaller

MISSING_ACTION = "trading.bars_missing"
PRICE_COLUMNS = ("open", "high", "low", "close")


@dataclass(frozen=True)
class MissingBars:
    """A range of bars the broker asked for and could not have."""

    start: datetime
    end: datetime
    error: str

    def describe(self) -> str:
        """One line for the tick report and the decision record."""
        return (f"bars from {self.start.isoformat()} to {self.end.isoformat()} could not be "
                f"checked: {self.error}")


class BarsHistory:
    """The ``history`` loader of one asset's snapshot for one ``mark`` call.

    Use as a context manager around the ``mark`` call: on exit it stops its worker and
    audits what was missing (also when ``mark`` failed).
    """

    def __init__(self, app: Flask, session: Session, pipeline: PipelinePlugin,
                 asset: AssetInfo, now: datetime, timeout: float, *,
                 caller: PluginCaller | None = None) -> None:
        """Set up the loader of one ``mark`` call.

        ``caller``: a worker to reuse (the engine's, one for every asset); by default
        one is started on first use and stopped on exit.
        """
        self.app = app
        self.session = session
        self.pipeline = pipeline
        self.asset = asset
        self.now = now
        self.timeout = timeout
        self.missing: list[MissingBars] = []
        self._caller: PluginCaller | None = caller
        self._owns_caller = caller is None

    def attach(self, snapshot: MarketSnapshot) -> MarketSnapshot:
        """Return ``snapshot`` with this loader as its ``history``."""
        return dataclasses.replace(snapshot, history=self)

    def __call__(self, start: datetime, end: datetime) -> pd.DataFrame:
        """Return the pipeline's bars in [start, end) (never past the tick); PluginError if not."""
        end = min(end, self.now)
        if self._caller is None:
            self._caller = PluginCaller(self.app)
        try:
            bars = self._caller.call("pipeline", self.pipeline.name, "bars", self.pipeline.bars,
                                     self.asset, start, end, timeout=self.timeout)
            if not isinstance(bars, pd.DataFrame) or not isinstance(bars.index,
                                                                    pd.DatetimeIndex):
                raise PluginCallError("pipeline", self.pipeline.name, "bars",
                                      f"returned {type(bars).__name__}, not a DataFrame of "
                                      f"bars on a DatetimeIndex")
            lacking = sorted(set(PRICE_COLUMNS) - set(bars.columns))
            if lacking:
                raise PluginCallError("pipeline", self.pipeline.name, "bars",
                                      f"returned bars without {', '.join(lacking)}")
            # Whatever the pipeline did, nothing at or after ``end`` reaches the broker.
            inside = (bars.index >= pd.Timestamp(start)) & (bars.index < pd.Timestamp(end))
        except PluginCallError as exc:
            self._missed(start, end, exc.summary)
        except (TypeError, ValueError) as exc:  # e.g. a naive index
            self._missed(start, end, f"unusable bars: {exc}")
        return bars[inside]

    def _missed(self, start: datetime, end: datetime, error: str) -> NoReturn:
        """Remember a range that could not be loaded and tell the broker so."""
        self.missing.append(MissingBars(start, end, error))
        raise PluginError(self.missing[-1].describe())

    @property
    def warnings(self) -> tuple[str, ...]:
        """The missing ranges, described."""
        return tuple(gap.describe() for gap in self.missing)

    def close(self) -> None:
        """Stop the worker thread, if one was started here."""
        if self._caller is not None and self._owns_caller:
            self._caller.close()
            self._caller = None

    def __enter__(self) -> BarsHistory:
        """Start using the loader."""
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        """Stop the worker; audit every missing range on the asset."""
        self.close()
        if not self.missing:
            return
        if self.session.in_transaction():
            self.session.rollback()
        with write_transaction(self.session):
            for gap in self.missing:
                audit(self.session, MISSING_ACTION, f"asset:{self.asset.id}", self.now,
                      outcome="error", portfolio_id=self.asset.portfolio_id,
                      kind="pipeline", plugin=self.pipeline.name, method="bars",
                      start=gap.start.isoformat(), end=gap.end.isoformat(),
                      error=gap.describe())
