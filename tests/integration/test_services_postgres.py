"""Services whose SQL differs by database, on PostgreSQL: downsampling and id-first pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lts.list_limits import MAX_POINTS
from tests.conftest import make_test_app, migrate_to_head

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.mark.postgres
def test_series_downsampling_and_order_pages_on_postgresql(postgres_url, tmp_path):
    app = make_test_app(postgres_url, tmp_path)
    migrate_to_head(app)
    with app.app_context():
        from lts.extensions import db
        from lts.models import Order, Statistic
        from lts.services import orders, statistics
        from tests.factories import gen_asset, gen_portfolio, gen_user

        assert db.engine.dialect.name == "postgresql"
        user = gen_user("alice")
        portfolio = gen_portfolio(user)
        asset = gen_asset(portfolio)
        key = f"portfolio.{portfolio.id}.equity"
        db.session.add_all(Statistic(key=key, value=float(i), portfolio_id=portfolio.id,
                                     timestamp=NOW + timedelta(minutes=i)) for i in range(1500))
        db.session.add_all(Order(asset_id=asset.id, side="buy", quantity=1, status="filled",
                                 client_order_id=f"pg-{i}", created_at=NOW + timedelta(minutes=i))
                           for i in range(7))
        db.session.commit()
        series = statistics.get_series(user, key, bucket="1h")
        assert series.bucket_seconds == 3600 and len(series.points) == 25
        assert series.points[0] == (NOW, pytest.approx(29.5))
        auto = statistics.get_series(user, key)
        assert 0 < len(auto.points) <= MAX_POINTS
        page = orders.list_orders(user, per_page=3, page=2)
        assert page.total == 7 and [o.client_order_id for o in page.items] == [
            "pg-3", "pg-2", "pg-1"]
        db.session.remove()
        db.engine.dispose()
