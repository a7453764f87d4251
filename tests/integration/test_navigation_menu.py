"""The sidebar: every declared entry resolves in the real app, and the right one is lit."""

from __future__ import annotations

import re

from flask import url_for

from lts.navigation import MENU
from tests.factories import gen_user
from tests.helpers import csrf_from


def test_every_menu_entry_names_a_registered_endpoint_that_builds(app):
    # A typo (the menu once named ``api_docs.index`` for the route ``api_docs``) hides
    # the entry silently, since missing endpoints are skipped by design: catch it here.
    missing = [entry.endpoint for entry in MENU if entry.endpoint not in app.view_functions]
    assert missing == []
    with app.test_request_context():
        for entry in MENU:
            assert url_for(entry.endpoint).startswith("/")


def test_api_docs_is_in_the_menu(client, db, login_as):
    login_as(gen_user("dora"))
    html = client.get("/").get_data(as_text=True)
    assert 'href="/api/docs"' in html


def _active_links(html: str) -> list[str]:
    return re.findall(r'<a[^>]*class="nav-link active"[^>]*href="([^"]+)"', html) + \
        re.findall(r'<a[^>]*href="([^"]+)"[^>]*class="nav-link active"', html)


def test_a_failed_user_creation_keeps_users_lit_not_config(client, db, login_as):
    login_as(gen_user("root2", role="admin"))
    token = csrf_from(client.get("/admin/users").get_data(as_text=True))
    failed = client.post("/admin/users", data={"csrf_token": token, "username": "",
                                               "email": "", "role": "user", "password": ""})
    assert failed.status_code == 422
    assert _active_links(failed.get_data(as_text=True)) == ["/admin/users"]


def test_orders_and_positions_show_the_portfolio_and_filter_by_asset_and_day(
        client, db, login_as):
    from datetime import UTC, datetime

    from lts.extensions import db as database
    from lts.models import Order, Position
    from tests.factories import gen_asset, gen_portfolio

    user = gen_user("olga")
    first = gen_asset(gen_portfolio(user, "Alpha book"), "EUR_USD")
    second = gen_asset(gen_portfolio(user, "Beta book"), "XAU_USD")
    for asset, day in ((first, 2), (second, 5)):
        order = Order(asset_id=asset.id, side="buy", quantity=1.0, status="filled",
                      fill_price=1.0, filled_quantity=1.0,
                      client_order_id=f"lts-olga-{asset.id}",
                      created_at=datetime(2026, 3, day, 12, tzinfo=UTC))
        database.session.add(order)
        database.session.flush()
        database.session.add(Position(asset_id=asset.id, order_id=order.id, side="long",
                                      quantity=1.0, entry_price=1.0, status="open",
                                      opened_at=datetime(2026, 3, day, 12, tzinfo=UTC)))
    database.session.commit()
    login_as(user)

    for page in ("/orders", "/positions"):
        every = client.get(page).get_data(as_text=True)
        assert "Alpha book" in every and "Beta book" in every  # the portfolio column
        by_asset = client.get(f"{page}?asset_id={second.id}").get_data(as_text=True)
        assert "Beta book</a>" in by_asset and "Alpha book</a>" not in by_asset
        by_day = client.get(f"{page}?from=2026-03-02&to=2026-03-02").get_data(as_text=True)
        assert "Alpha book</a>" in by_day and "Beta book</a>" not in by_day
        bad = client.get(f"{page}?from=yesterday").get_data(as_text=True)
        assert "from: must be a date, YYYY-MM-DD" in bad
