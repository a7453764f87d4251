"""Server side of the dashboard charts: capital steps marked, candles resampled, SL/TP kept."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from lts.extensions import db as database
from lts.models import Order, Position
from lts.models.statistic_keys import CAPITAL_CHANGE, EQUITY, portfolio_key
from lts.services.dashboard_queries import equity_steps
from lts.services.overview import combined_equity
from lts.trading.chart import CHART_BARS
from lts.trading.statistics import record
from tests.factories import gen_asset, gen_portfolio, gen_user

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_a_portfolio_added_mid_curve_is_a_marked_capital_step_not_a_gain(db):
    user = gen_user("stepper")
    first = gen_portfolio(user, "First", total_capital=10_000.0)
    second = gen_portfolio(user, "Second", total_capital=5_000.0)
    for hour in range(4):
        record(database.session, [(portfolio_key(first.id, EQUITY), 10_000.0 + hour)],
               T0 + timedelta(hours=hour))
    record(database.session, [(portfolio_key(second.id, EQUITY), 5_000.0)],
           T0 + timedelta(hours=2, minutes=30))
    record(database.session, [(portfolio_key(first.id, CAPITAL_CHANGE), -250.0)],
           T0 + timedelta(hours=3))
    database.session.commit()

    series = combined_equity([first.id, second.id], T0 - timedelta(hours=1))
    steps = equity_steps([first.id, second.id], series)

    # The first portfolio starts the curve: no step. The second one's start and the
    # withdrawal are steps, with their amounts and why.
    assert steps == [
        {"t": (T0 + timedelta(hours=2, minutes=30)).isoformat(), "v": 5000.0,
         "label": "Portfolio Second added"},
        {"t": (T0 + timedelta(hours=3)).isoformat(), "v": -250.0, "label": "Withdrawal"},
    ]


def test_no_steps_for_someone_elses_portfolio_or_an_empty_curve(db):
    owner = gen_user("owner1")
    other = gen_user("other1")
    mine = gen_portfolio(owner, "Mine")
    theirs = gen_portfolio(other, "Theirs")
    record(database.session, [(portfolio_key(mine.id, EQUITY), 1.0)], T0)
    record(database.session, [(portfolio_key(mine.id, EQUITY), 2.0)], T0 + timedelta(hours=1))
    record(database.session, [(portfolio_key(theirs.id, EQUITY), 9.0)],
           T0 + timedelta(minutes=30))
    database.session.commit()

    series = combined_equity([mine.id], None)
    assert equity_steps([mine.id], series) == []
    assert equity_steps([mine.id], []) == []


def _chart_data(client: Any, asset_id: int, query: str = "") -> dict[str, Any]:
    response = client.get(f"/assets/{asset_id}{query}",
                          headers={"HX-Request": "true", "HX-Target": "asset-chart"})
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    found = re.search(r'data-candles="([^"]*)"', response.get_data(as_text=True))
    assert found, "no candle chart in the partial"
    return json.loads(html.unescape(found.group(1)))


def test_asset_chart_has_volume_indicators_sl_tp_and_resting_order_lines(client, db, login_as):
    user = gen_user("charlie")
    asset = gen_asset(gen_portfolio(user, "Charts"), "EUR_USD")
    order = Order(asset_id=asset.id, side="buy", quantity=3.0, order_type="limit",
                  price=42.5, status="submitted", client_order_id="lts-test-resting")
    filled = Order(asset_id=asset.id, side="buy", quantity=1.0, price=None, fill_price=100.0,
                   status="filled", filled_quantity=1.0, client_order_id="lts-test-filled")
    database.session.add_all([order, filled])
    database.session.flush()
    database.session.add(Position(asset_id=asset.id, order_id=filled.id, side="long",
                                  quantity=1.0, entry_price=100.0, stop_loss=1.0,
                                  take_profit=900.0, status="open"))
    database.session.commit()
    login_as(user)

    data = _chart_data(client, asset.id)
    kinds = {(line["kind"], line["price"]) for line in data["lines"]}
    assert {("stop_loss", 1.0), ("take_profit", 900.0), ("entry", 100.0),
            ("order", 42.5)} <= kinds
    assert len(data["volume"]) == len(data["bars"]) > 0
    assert [i["name"] for i in data["indicators"]] == ["naive_forecast"]  # from prepare()

    hourly = _chart_data(client, asset.id, "?timeframe=1h")
    # Not just the snapshot's few hours regrouped: the pipeline's bars() fills the
    # chart (CHART_BARS hourly candles from minute bars).
    assert len(hourly["bars"]) == CHART_BARS
    spacing = {b["time"] - a["time"] for a, b in pairwise(hourly["bars"])}
    assert spacing == {3600}
    assert hourly["indicators"] == []  # drawn on the pipeline's own bars only


def test_an_unknown_timeframe_is_refused_naming_the_field(client, db, login_as):
    user = gen_user("charlie2")
    asset = gen_asset(gen_portfolio(user, "Charts2"), "EUR_USD")
    login_as(user)
    response = client.get(f"/assets/{asset.id}?timeframe=7m")
    assert response.status_code == 422
    assert "timeframe" in response.get_data(as_text=True)
