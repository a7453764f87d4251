"""Every dashboard page renders for admins and users, htmx gets partials, errors inline."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from lts.extensions import db as database
from lts.models import Asset, AssetDecision, Order, Portfolio, Position
from tests.factories import gen_asset, gen_portfolio, gen_user
from tests.helpers import csrf_from


def trade(asset: Asset, *, side: str = "buy", open_: bool = True) -> tuple[Order, Position]:
    """A filled order and the position it opened."""
    from lts.models import utcnow

    order = Order(asset_id=asset.id, side=side, quantity=2.0, price=100.0, fill_price=100.5,
                  client_order_id=f"lts-{asset.id}-{Order.__name__}-{side}-{open_}",
                  status="filled", filled_quantity=2.0, filled_at=utcnow(),
                  reason="predicted move 0.4%")
    database.session.add(order)
    database.session.flush()
    position = Position(asset_id=asset.id, order_id=order.id,
                        side="long" if side == "buy" else "short", quantity=2.0,
                        entry_price=100.5, current_price=101.0, unrealized_pnl=1.0,
                        stop_loss=99.0, take_profit=103.0,
                        status="open" if open_ else "closed")
    database.session.add(position)
    database.session.commit()
    return order, position


@pytest.fixture
def world(db):
    """An admin and a user; the user owns a portfolio with one asset, a trade and a position."""
    admin = gen_user("root", role="admin")
    user = gen_user("ursula")
    portfolio = gen_portfolio(user, "FX majors")
    asset = gen_asset(portfolio, "EUR_USD", allocated_capital=5000.0)
    order, position = trade(asset)
    return {"admin": admin, "user": user, "portfolio": portfolio, "asset": asset,
            "order": order, "position": position}


def pages(world) -> dict[str, str]:
    """Every page a signed-in user can open, with an element it must contain."""
    return {
        "/": 'id="overview-figures"',
        "/portfolios": 'id="portfolio-list"',
        "/portfolios/new": 'id="portfolio-form"',
        f"/portfolios/{world['portfolio'].id}": 'id="portfolio-assets"',
        f"/portfolios/{world['portfolio'].id}/edit": 'name="portfolio_plugin"',
        f"/portfolios/{world['portfolio'].id}/assets/new": 'name="strategy_plugin"',
        f"/assets/{world['asset'].id}": 'data-lts-chart="candles"',
        f"/assets/{world['asset'].id}/edit": 'name="broker_plugin"',
        "/orders": 'id="orders-table"',
        "/positions": 'id="positions-table"',
        "/statistics": 'id="stats-chart"',
        "/profile": "app-wrapper",
    }


ADMIN_PAGES = {
    "/admin/users": "app-wrapper",
    "/admin/audit": 'id="audit-table"',
    "/admin/config": 'id="config-table"',
    "/admin/plugins": 'id="plugin-list"',
    "/admin/loop": 'id="loop-controls"',
}


@pytest.mark.parametrize("who", ["admin", "user"])
def test_every_page_renders_for_admins_and_users(client, world, login_as, who):
    login_as(world[who])
    for path, marker in pages(world).items():
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        html = response.get_data(as_text=True)
        assert "app-wrapper" in html and marker in html, path
        assert " style=" not in html and "<script>" not in html, path
        assert not re.search(r"\son[a-z]+=", html), path


def test_admin_pages_render_for_admins_and_are_refused_to_users(client, world, login_as):
    login_as(world["admin"])
    for path, marker in ADMIN_PAGES.items():
        response = client.get(path)
        assert response.status_code == 200, path
        assert marker in response.get_data(as_text=True), path
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/").get_data(as_text=True))})
    login_as(world["user"])
    for path in ADMIN_PAGES:
        assert client.get(path).status_code == 403, path


def test_sidebar_shows_admin_entries_to_admins_only(client, world, login_as):
    login_as(world["user"])
    html = client.get("/").get_data(as_text=True)
    assert "/portfolios" in html and "/admin/loop" not in html
    client.post("/logout", data={"csrf_token": csrf_from(html)})
    login_as(world["admin"])
    assert "/admin/loop" in client.get("/").get_data(as_text=True)


def test_overview_counts_only_the_viewers_objects(client, world, login_as):
    other = gen_user("otto")
    gen_asset(gen_portfolio(other, "otto's"), "BTC_USD")
    login_as(other)
    html = client.get("/").get_data(as_text=True)
    assert "EUR_USD" not in html
    assert re.search(r'id="count-open_positions">\s*<div class="inner">\s*<h3>0<', html)


def test_overview_shows_positions_orders_and_the_admin_sees_everyones(client, world, login_as):
    login_as(world["admin"])
    html = client.get("/").get_data(as_text=True)
    assert f'id="position-{world["position"].id}"' in html
    assert f'id="order-{world["order"].id}"' in html
    assert re.search(r'id="count-open_positions">\s*<div class="inner">\s*<h3>1<', html)


def test_new_user_sees_what_to_do_next(client, db, login_as):
    login_as(gen_user("newbie"))
    overview = client.get("/").get_data(as_text=True)
    assert "Create your first portfolio" in overview
    listing = client.get("/portfolios").get_data(as_text=True)
    assert 'id="portfolios-empty"' in listing and "Create a portfolio" in listing
    assert "No orders yet" in client.get("/orders").get_data(as_text=True)
    assert "No statistics yet" in client.get("/statistics").get_data(as_text=True)


@pytest.mark.parametrize(("path", "target"), [
    ("/", "overview-orders"),
    ("/", "overview-loop"),
    ("/orders", "orders-table"),
    ("/positions", "positions-table"),
    ("/statistics", "stats-chart"),
    ("/portfolios", "portfolio-list"),
])
def test_htmx_requests_get_the_partial_not_the_page(client, world, login_as, path, target):
    login_as(world["user"])
    full = client.get(path)
    partial = client.get(path, headers={"HX-Request": "true", "HX-Target": target})
    assert partial.status_code == 200
    body = partial.get_data(as_text=True)
    assert f'id="{target}"' in body
    assert "<html" not in body and "app-wrapper" not in body
    assert len(body) < len(full.get_data(as_text=True)) / 2
    assert "HX-Request" in partial.headers.get("Vary", "")
    assert "HX-Request" in full.headers.get("Vary", "")


def test_the_partial_is_the_same_markup_as_in_the_page(client, world, login_as):
    login_as(world["user"])
    page = client.get("/orders").get_data(as_text=True)
    partial = client.get("/orders", headers={"HX-Request": "true",
                                             "HX-Target": "orders-table"}).get_data(as_text=True)
    assert partial.strip() in page


def test_tables_filter_sort_and_page(client, world, login_as):
    login_as(world["user"])
    asset = world["asset"]
    for n in range(30):
        database.session.add(Order(asset_id=asset.id, side="sell", quantity=1.0 + n,
                                   client_order_id=f"bulk-{n}", status="rejected"))
    database.session.commit()
    html = client.get("/orders?status=rejected&sort=quantity&direction=asc").get_data(
        as_text=True)
    assert "Page 1 of 2" in html
    assert html.index(">1<") < html.index(">2<")
    filtered = client.get("/orders?status=filled").get_data(as_text=True)
    assert "Page 1 of 1 · 1 rows" in filtered
    bad = client.get("/orders?status=nonsense").get_data(as_text=True)
    assert "Filter ignored" in bad


def test_portfolio_form_errors_render_inline_with_422(client, world, login_as):
    login_as(world["user"])
    token = csrf_from(client.get("/portfolios/new").get_data(as_text=True))
    response = client.post("/portfolios", headers={"HX-Request": "true",
                                                   "HX-Target": "portfolio-modal-content"},
                           data={"csrf_token": token, "name": "", "total_capital": "-5",
                                 "portfolio_latency": "60", "portfolio_plugin": "equal_weight"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<html" not in html
    assert re.search(r'id="name-errors" class="invalid-feedback"', html)
    assert re.search(r'id="total_capital-errors" class="invalid-feedback"', html)


def test_duplicate_name_error_comes_from_the_service_under_the_field(client, world, login_as):
    login_as(world["user"])
    token = csrf_from(client.get("/portfolios/new").get_data(as_text=True))
    response = client.post("/portfolios", headers={"HX-Request": "true"},
                           data={"csrf_token": token, "name": "FX majors",
                                 "total_capital": "1000", "portfolio_latency": "60",
                                 "portfolio_plugin": "equal_weight"})
    assert response.status_code == 422
    assert 'id="name-errors"' in response.get_data(as_text=True)


def test_create_portfolio_redirects_htmx_to_its_page(client, world, login_as):
    login_as(world["user"])
    token = csrf_from(client.get("/portfolios/new").get_data(as_text=True))
    response = client.post("/portfolios", headers={"HX-Request": "true"},
                           data={"csrf_token": token, "name": "Crypto", "total_capital": "5000",
                                 "portfolio_latency": "15", "is_active": "y",
                                 "portfolio_plugin": "inverse_volatility",
                                 "portfolio_config-window": "30"})
    assert response.status_code == 204, response.get_data(as_text=True)
    created = database.session.scalar(select(Portfolio).where(Portfolio.name == "Crypto"))
    assert response.headers["HX-Redirect"] == f"/portfolios/{created.id}"
    assert created.portfolio_config["window"] == 30 and created.user_id == world["user"].id


def test_admin_creates_a_portfolio_for_another_user_users_cannot(client, world, login_as):
    login_as(world["user"])
    page = client.get("/portfolios/new").get_data(as_text=True)
    assert 'name="owner_id"' not in page
    response = client.post("/portfolios", headers={"HX-Request": "true"}, data={
        "csrf_token": csrf_from(page), "name": "Mine", "total_capital": "100",
        "portfolio_latency": "60", "portfolio_plugin": "equal_weight",
        "owner_id": str(world["admin"].id)})  # not offered: ignored
    assert response.status_code == 204
    mine = database.session.scalar(select(Portfolio).where(Portfolio.name == "Mine"))
    assert mine.user_id == world["user"].id

    login_as(world["admin"])
    page = client.get("/portfolios/new").get_data(as_text=True)
    assert 'name="owner_id"' in page and ">ursula</option>" in page
    edit = client.get(f"/portfolios/{mine.id}/edit").get_data(as_text=True)
    assert 'name="owner_id"' not in edit  # an existing portfolio keeps its owner
    data = {"csrf_token": csrf_from(page), "name": "For Ursula", "total_capital": "100",
            "portfolio_latency": "60", "portfolio_plugin": "equal_weight"}
    bad = client.post("/portfolios", headers={"HX-Request": "true"},
                      data={**data, "owner_id": "999999"})
    assert bad.status_code == 422 and 'id="owner_id-errors"' in bad.get_data(as_text=True)
    response = client.post("/portfolios", headers={"HX-Request": "true"},
                           data={**data, "owner_id": str(world["user"].id)})
    assert response.status_code == 204, response.get_data(as_text=True)
    created = database.session.scalar(select(Portfolio).where(Portfolio.name == "For Ursula"))
    assert created.user_id == world["user"].id


def test_plugin_select_swaps_generated_config_fields(client, world, login_as):
    login_as(world["user"])
    html = client.get("/plugin-fields?kind=strategy&strategy_plugin=sma_cross",
                      headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'id="strategy-config-fields"' in html and "<html" not in html
    assert 'name="strategy_config-sl_tp_unit"' in html and "<select" in html
    assert 'type="checkbox"' in html  # allow_short
    assert client.get("/plugin-fields?kind=aaa").status_code == 404


def test_asset_form_plugin_config_error_is_shown_under_its_input(client, world, login_as):
    login_as(world["user"])
    pid = world["portfolio"].id
    token = csrf_from(client.get(f"/portfolios/{pid}").get_data(as_text=True))
    response = client.post(f"/portfolios/{pid}/assets", headers={"HX-Request": "true"}, data={
        "csrf_token": token, "symbol": "GBP_USD", "is_active": "y",
        "pipeline_plugin": "synthetic", "strategy_plugin": "prediction_threshold",
        "strategy_config-threshold": "-1", "broker_plugin": "paper"})
    assert response.status_code == 422
    assert response.headers["HX-Retarget"] == "#asset-form-slot"
    html = response.get_data(as_text=True)
    assert re.search(r'id="strategy-config-threshold-errors" class="invalid-feedback"', html)
    assert 'value="-1"' in html  # what the user typed is kept


def test_add_asset_with_generated_config_returns_the_assets_card(client, world, login_as):
    login_as(world["user"])
    pid = world["portfolio"].id
    token = csrf_from(client.get(f"/portfolios/{pid}").get_data(as_text=True))
    response = client.post(f"/portfolios/{pid}/assets", headers={"HX-Request": "true"}, data={
        "csrf_token": token, "symbol": "GBP_USD", "is_active": "y",
        "pipeline_plugin": "synthetic", "pipeline_config-seed": "7",
        "strategy_plugin": "sma_cross", "strategy_config-sl_tp_unit": "pips",
        "broker_plugin": "paper", "broker_config-spread_bps": "3.5"})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert 'id="portfolio-assets"' in response.get_data(as_text=True)
    asset = database.session.scalar(select(Asset).where(Asset.symbol == "GBP_USD"))
    assert asset.pipeline_config["seed"] == 7
    assert asset.strategy_config["sl_tp_unit"] == "pips"
    assert asset.strategy_config["allow_short"] is False  # unchecked box
    assert asset.broker_config["spread_bps"] == 3.5


def test_asset_form_sets_and_validates_the_max_data_age(client, world, login_as):
    login_as(world["user"])
    pid = world["portfolio"].id
    token = csrf_from(client.get(f"/portfolios/{pid}").get_data(as_text=True))
    form = {"csrf_token": token, "symbol": "AUD_USD", "is_active": "y",
            "pipeline_plugin": "synthetic", "strategy_plugin": "sma_cross",
            "broker_plugin": "paper"}
    refused = client.post(f"/portfolios/{pid}/assets", headers={"HX-Request": "true"},
                          data={**form, "max_data_age_minutes": "-3"})
    assert refused.status_code == 422
    assert 'id="max_data_age_minutes-errors"' in refused.get_data(as_text=True)
    saved = client.post(f"/portfolios/{pid}/assets", headers={"HX-Request": "true"},
                        data={**form, "max_data_age_minutes": "45"})
    assert saved.status_code == 200, saved.get_data(as_text=True)
    asset = database.session.scalar(select(Asset).where(Asset.symbol == "AUD_USD"))
    assert asset.max_data_age_minutes == 45.0


def test_manual_order_form_errors_inline(client, world, login_as):
    login_as(world["user"])
    aid = world["asset"].id
    token = csrf_from(client.get(f"/assets/{aid}").get_data(as_text=True))
    response = client.post(f"/assets/{aid}/orders", headers={"HX-Request": "true"}, data={
        "csrf_token": token, "side": "buy", "order_type": "limit", "quantity": "1"})
    assert response.status_code == 422
    assert 'id="price-errors"' in response.get_data(as_text=True)


def test_manual_market_order_is_placed_and_tables_are_told(client, world, login_as):
    login_as(world["user"])
    aid = world["asset"].id
    token = csrf_from(client.get(f"/assets/{aid}").get_data(as_text=True))
    response = client.post(f"/assets/{aid}/orders", headers={"HX-Request": "true"}, data={
        "csrf_token": token, "side": "buy", "order_type": "market", "quantity": "1"})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["HX-Trigger"] == "lts-orders-changed"
    assert 'hx-swap-oob="beforeend:#lts-toasts"' in response.get_data(as_text=True)
    assert database.session.scalar(select(Order).where(Order.source == "manual")) is not None


def test_close_position_from_the_table(client, world, login_as):
    login_as(world["user"])
    position = world["position"]
    token = csrf_from(client.get("/positions").get_data(as_text=True))
    response = client.post(f"/positions/{position.id}/close",
                           headers={"HX-Request": "true", "X-CSRFToken": token,
                                    "HX-Target": f"position-{position.id}"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f'id="position-{position.id}"' in html and "<html" not in html
    database.session.expire_all()
    assert database.session.get(Position, position.id).close_order_id is not None


def test_other_users_objects_answer_404(client, world, login_as):
    login_as(gen_user("mallory"))
    for path in (f"/portfolios/{world['portfolio'].id}", f"/assets/{world['asset'].id}",
                 f"/portfolios/{world['portfolio'].id}/edit"):
        assert client.get(path).status_code == 404, path


def test_portfolio_actions_swap_the_row(client, world, login_as):
    login_as(world["user"])
    pid = world["portfolio"].id
    token = csrf_from(client.get("/portfolios").get_data(as_text=True))
    headers = {"HX-Request": "true", "HX-Target": f"portfolio-row-{pid}", "X-CSRFToken": token}
    response = client.post(f"/portfolios/{pid}/kill-switch", headers=headers, data={"on": "1"})
    assert response.status_code == 200
    assert f'id="portfolio-row-{pid}"' in response.get_data(as_text=True)
    assert database.session.get(Portfolio, pid).risk_state == "halted"
    client.post(f"/portfolios/{pid}/deactivate", headers=headers)
    database.session.expire_all()
    assert database.session.get(Portfolio, pid).is_active is False


def test_admin_changes_a_runtime_setting_inline_and_sees_errors_inline(client, world, login_as):
    login_as(world["admin"])
    token = csrf_from(client.get("/admin/config").get_data(as_text=True))
    headers = {"HX-Request": "true", "X-CSRFToken": token}
    ok = client.post("/admin/config/global_latency", headers=headers, data={"value": "2.5"})
    assert ok.status_code == 200 and 'value="2.5"' in ok.get_data(as_text=True)
    bad = client.post("/admin/config/global_latency", headers=headers, data={"value": "-1"})
    assert bad.status_code == 422
    assert 'id="setting-global_latency-error"' in bad.get_data(as_text=True)
    startup = client.post("/admin/config/database_url", headers=headers, data={"value": "x"})
    assert startup.status_code == 422


def test_admin_loop_controls_pause_resume_and_tick(client, world, login_as):
    login_as(world["admin"])
    token = csrf_from(client.get("/admin/loop").get_data(as_text=True))
    headers = {"HX-Request": "true", "X-CSRFToken": token}
    paused = client.post("/admin/loop/pause", headers=headers).get_data(as_text=True)
    assert "Resume the loop" in paused and 'id="loop-controls"' in paused
    resumed = client.post("/admin/loop/resume", headers=headers).get_data(as_text=True)
    assert "Pause the loop" in resumed
    ticked = client.post("/admin/loop/tick", headers=headers)
    assert ticked.status_code == 200 and 'id="tick-report"' in ticked.get_data(as_text=True)
    assert ticked.headers["HX-Trigger"] == "lts-orders-changed"


def test_partials_rendered_by_actions_poll_the_page_not_the_action(client, world, login_as):
    login_as(world["admin"])
    pid = world["portfolio"].id
    token = csrf_from(client.get(f"/portfolios/{pid}").get_data(as_text=True))
    html = client.post(f"/portfolios/{pid}/kill-switch", data={"on": "1"}, headers={
        "HX-Request": "true", "X-CSRFToken": token, "HX-Target": "portfolio-header",
    }).get_data(as_text=True)
    assert f'hx-get="/portfolios/{pid}"' in html
    assert "kill-switch\" hx-trigger" not in html


def test_owner_runs_their_portfolio_now_from_its_row(client, world, login_as):
    login_as(world["user"])
    pid = world["portfolio"].id
    html = client.get("/portfolios").get_data(as_text=True)
    assert f'action="/portfolios/{pid}/run"' in html or f'hx-post="/portfolios/{pid}/run"' in html
    response = client.post(f"/portfolios/{pid}/run", headers={
        "HX-Request": "true", "X-CSRFToken": csrf_from(html),
        "HX-Target": f"portfolio-row-{pid}"})
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "Tick done" in body and f'id="portfolio-row-{pid}"' in body
    database.session.expire_all()
    assert database.session.get(Portfolio, pid).last_execution is not None


HX_TARGET = re.compile(r'hx-target="#([\w-]+)"')
IDS = re.compile(r'\sid="([\w-]+)"')


def test_every_htmx_target_exists_on_its_page(client, world, login_as):
    """A lint of the HTMX wiring: a target that is not on the page swaps nothing."""
    login_as(world["admin"])
    slots = {"portfolio-modal-content", "asset-form-slot"}  # filled later, present empty
    problems = []
    for path in [*pages(world), *ADMIN_PAGES]:
        html = client.get(path).get_data(as_text=True)
        ids = set(IDS.findall(html))
        for target in HX_TARGET.findall(html):
            if target not in ids and target not in slots:
                problems.append(f"{path}: #{target}")
        if path not in ("/profile", "/admin/users", "/admin/audit"):  # the AAA issue's pages
            assert len(ids) == len(IDS.findall(html)), f"{path}: duplicate ids"
    assert not problems, problems


def test_every_polled_partial_is_served_for_its_target(client, world, login_as):
    """Each self-refreshing section names a target the view knows (else: whole page)."""
    login_as(world["admin"])
    for path in ("/", f"/portfolios/{world['portfolio'].id}", f"/assets/{world['asset'].id}",
                 "/admin/loop"):
        html = client.get(path).get_data(as_text=True)
        polled = re.findall(r'id="([\w-]+)"[^>]*hx-trigger="every', html)
        assert polled, path
        for target in polled:
            body = client.get(path, headers={"HX-Request": "true", "HX-Target": target}
                              ).get_data(as_text=True)
            assert f'id="{target}"' in body and "app-wrapper" not in body, (path, target)


def test_saving_an_edit_over_someone_elses_change_is_refused_inline(client, world, login_as):
    login_as(world["user"])
    pid = world["portfolio"].id
    form_html = client.get(f"/portfolios/{pid}/edit").get_data(as_text=True)
    version = re.search(r'name="expected_updated_at" value="([^"]+)"', form_html).group(1)
    data = {"csrf_token": csrf_from(form_html), "name": "Renamed", "total_capital": "10000",
            "portfolio_latency": "60", "portfolio_plugin": "equal_weight",
            "expected_updated_at": version}
    first = client.post(f"/portfolios/{pid}/edit", headers={"HX-Request": "true"}, data=data)
    assert first.status_code == 204
    stale = client.post(f"/portfolios/{pid}/edit", headers={"HX-Request": "true"},
                        data={**data, "name": "Again"})
    assert stale.status_code == 422
    assert "changed by someone else" in stale.get_data(as_text=True)
    assert database.session.get(Portfolio, pid).name == "Renamed"


def test_delete_a_portfolio_without_orders_and_refuse_one_with_orders(client, world, login_as):
    login_as(world["user"])
    empty = gen_portfolio(world["user"], "Empty")
    token = csrf_from(client.get("/portfolios").get_data(as_text=True))
    gone = client.post(f"/portfolios/{empty.id}/delete",
                       headers={"HX-Request": "true", "X-CSRFToken": token})
    assert gone.headers["HX-Redirect"] == "/portfolios"
    pid = world["portfolio"].id
    kept = client.post(f"/portfolios/{pid}/delete", headers={
        "HX-Request": "true", "X-CSRFToken": token, "HX-Target": f"portfolio-row-{pid}"})
    assert kept.status_code == 200 and "deactivate it instead" in kept.get_data(as_text=True)
    database.session.expire_all()
    assert database.session.get(Portfolio, empty.id) is None
    assert database.session.get(Portfolio, pid) is not None


def test_plugins_page_lists_load_errors(app, client, world, login_as):
    from lts.plugins.registry import get_registry

    get_registry(app)._fail("strategy", "broken_momentum", "entry point lts-broken",
                            "ImportError: No module named 'talib'")
    login_as(world["admin"])
    html = client.get("/admin/plugins").get_data(as_text=True)
    assert 'id="plugin-load-errors"' in html
    assert "broken_momentum" in html and "No module named" in html


def test_asset_form_works_as_a_plain_page_without_javascript(client, world, login_as):
    login_as(world["user"])
    aid = world["asset"].id
    html = client.get(f"/assets/{aid}/edit").get_data(as_text=True)
    assert 'name="pipeline_plugin"' in html and "app-wrapper" in html
    response = client.post(f"/assets/{aid}/edit", data={
        "csrf_token": csrf_from(html), "symbol": "EUR_USD", "name": "Euro",
        "pipeline_plugin": "synthetic", "strategy_plugin": "prediction_threshold",
        "broker_plugin": "paper"})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/portfolios/{world['portfolio'].id}"
    database.session.expire_all()
    asset = database.session.get(Asset, aid)
    assert asset.name == "Euro" and asset.is_active is False


def test_asset_page_shows_the_strategys_last_decision_even_a_hold(client, world, login_as):
    login_as(world["user"])
    asset = world["asset"]
    html = client.get(f"/assets/{asset.id}").get_data(as_text=True)
    assert "none yet: the loop has not run this asset" in html
    decided_at = world["order"].created_at
    database.session.add(AssetDecision(asset_id=asset.id, action="hold", side=None,
                                       reason="spread too wide", orders_placed=0,
                                       decided_at=decided_at))
    database.session.commit()
    html = client.get(f"/assets/{asset.id}").get_data(as_text=True)
    assert "hold: spread too wide" in html
    decision = database.session.get(AssetDecision, asset.id)
    decision.action, decision.side, decision.orders_placed = "open", "buy", 1
    decision.reason = ""
    database.session.commit()
    html = client.get(f"/assets/{asset.id}").get_data(as_text=True)
    assert "open buy (1 order): no reason given" in html
