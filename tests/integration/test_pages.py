"""The AdminLTE pages render from the real database, with vendored assets only."""

from __future__ import annotations

import re

from tests.factories import gen_asset, gen_portfolio, gen_user


def test_overview_shows_counts_from_the_database(client, db, login_as):
    owner = gen_user("olivia")
    portfolio = gen_portfolio(owner)
    gen_asset(portfolio, "EUR_USD")
    gen_asset(portfolio, "BTC_USD")
    login_as(owner)
    page = client.get("/").get_data(as_text=True)
    assert "app-wrapper" in page  # the AdminLTE 4 shell
    counts = dict(re.findall(r'id="count-(\w+)">\s*<div class="inner">\s*<h3>([\d /]+)<', page))
    assert counts == {"portfolios": "1 / 2", "open_positions": "0", "orders": "0"}, counts


def test_pages_load_no_asset_from_another_origin(client, db, login_as):
    login_as(gen_user("pat"))
    for path in ("/", "/login"):
        page = client.get(path, follow_redirects=True).get_data(as_text=True)
        for url in re.findall(r'(?:src|href)="([^"]+)"', page):
            assert not url.startswith(("http:", "https:", "//")), url
        assert "<script>" not in page and " style=" not in page


def test_vendored_assets_are_served(client):
    for path in ("/static/vendor/admin-lte/css/adminlte.min.css",
                 "/static/vendor/htmx.org/htmx.min.js", "/static/js/app.js"):
        response = client.get(path)
        assert response.status_code == 200, path
        response.close()


def test_unknown_page_renders_html_404_and_api_gets_json(client):
    page = client.get("/no-such-page", headers={"Accept": "text/html"})
    assert page.status_code == 404
    assert "text/html" in page.content_type
    api = client.get("/api/v1/no-such-thing")
    assert api.status_code == 404
    assert api.get_json()["error"]["code"] == "not_found"


def test_readyz_reports_migration_head(client):
    body = client.get("/readyz").get_json()
    assert body["status"] == "ok"
    assert body["migration"]["current"] == body["migration"]["head"]
