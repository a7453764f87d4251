"""A client generated from our OpenAPI document runs the integrator's flow, typed (issue 18).

openapi-python-client (pinned in requirements-dev.txt) generates a client from the
document a live gunicorn server serves; the flow then uses only its typed objects:
log in, list plugins, create a portfolio with an asset, run it, place a manual order
(``res.order.status``), see the position, close it, read an order with its ETag and
get a 304, and page the orders by cursor. A document that generates untyped or wrong
code fails here, not in an integrator's script.
"""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from http import HTTPStatus
from pathlib import Path

import pytest
import requests

from tests.system.conftest import wait_for_http

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("api_client")]

PROJECT = Path(__file__).resolve().parents[2]
GENERATOR = Path(sys.executable).with_name("openapi-python-client")
CONFIG = PROJECT / "clients" / "openapi-python-client.yml"


@pytest.fixture
def live_server(make_run_server):  # type: ignore[no-untyped-def]
    """``make run`` (its demo account), the loop off: the flow runs the portfolio itself."""
    server = make_run_server(loop_enabled="false")
    wait_for_http(f"{server.base_url}/healthz", server.process)
    return server


@pytest.fixture
def generated(live_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """Generate the client from the served document; yield its package name."""
    if not GENERATOR.exists():
        pytest.skip("openapi-python-client is not installed (pip install -r "
                    "requirements-dev.txt)")
    user, password = demo_credentials(live_server)
    token = requests.post(f"{live_server.base_url}/api/v1/auth/login", timeout=30,
                          json={"username": user, "password": password}).json()["token"]
    document = requests.get(f"{live_server.base_url}/api/v1/openapi.json", timeout=30,
                            headers={"Authorization": f"Bearer {token}"})
    assert document.status_code == 200
    folder = tmp_path_factory.mktemp("generated")
    (folder / "openapi.json").write_text(document.text)
    made = subprocess.run([str(GENERATOR), "generate", "--path", str(folder / "openapi.json"),
                           "--output-path", str(folder / "lts_api_client"), "--meta", "none",
                           "--config", str(CONFIG)], capture_output=True, text=True,
                          cwd=folder, timeout=300)
    assert made.returncode == 0, made.stdout + made.stderr
    assert "Warning" not in made.stdout + made.stderr, made.stdout + made.stderr
    sys.path.insert(0, str(folder))
    yield "lts_api_client"
    sys.path.remove(str(folder))
    for name in [n for n in sys.modules if n.startswith("lts_api_client")]:
        del sys.modules[name]
    shutil.rmtree(folder, ignore_errors=True)


def demo_credentials(server) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """The demo account ``flask lts run`` printed."""
    match = re.search(r"log in as (\S+) / (\S+)", server.log())
    assert match, server.log()
    return match.group(1), match.group(2)


def test_the_integrator_flow_with_typed_access_only(live_server, generated):
    pkg = importlib.import_module(generated)
    models = importlib.import_module(f"{generated}.models")

    def api(module: str):
        return importlib.import_module(f"{generated}.api.{module}")

    user, password = demo_credentials(live_server)
    with pkg.Client(base_url=live_server.base_url,
                    raise_on_unexpected_status=True) as anonymous:
        issued = api("auth.login").sync(client=anonymous, body=models.Login(
            username=user, password=password, name="generated client"))
    assert isinstance(issued, models.IssuedToken) and issued.token
    with pkg.AuthenticatedClient(base_url=live_server.base_url, token=issued.token,
                                 raise_on_unexpected_status=True) as client:
        _flow(client, models, api)


def _flow(client, models, api) -> None:  # type: ignore[no-untyped-def]
    """The flow proper, on one authenticated generated client."""

    plugins = api("plugins.list_plugins").sync(client=client, kind=models.PluginKind.BROKER)
    assert "paper" in {plugin.name for plugin in plugins.items}
    assert all(plugin.kind is models.PluginKind.BROKER for plugin in plugins.items)

    portfolio = api("portfolios.create_portfolio").sync(client=client, body=models.PortfolioCreate(
        name="generated", total_capital=100_000.0, portfolio_plugin="equal_weight"))
    assert isinstance(portfolio, models.Portfolio) and portfolio.name == "generated"
    asset = api("assets.create_asset").sync(
        portfolio_id=portfolio.id, client=client, body=models.AssetCreate(
            symbol="EUR_USD", pipeline_plugin="synthetic", strategy_plugin="sma_cross",
            broker_plugin="paper"))
    assert isinstance(asset, models.Asset) and asset.portfolio_id == portfolio.id
    ran = api("portfolios.run_portfolio").sync(portfolio_id=portfolio.id, client=client)
    assert isinstance(ran, models.TickResult) and portfolio.id in ran.portfolios_run

    placed = api("orders.create_manual_order").sync(
        asset_id=asset.id, client=client,
        body=models.ManualOrder(side=models.OrderSide.BUY, quantity=1000.0))
    assert isinstance(placed, models.ManualOrderResult), placed
    assert isinstance(placed.order, models.Order)
    assert placed.order.status is models.OrderStatus.FILLED
    assert placed.order.source is models.OrderSource.MANUAL

    positions = api("positions.list_positions").sync(
        client=client, asset_id=asset.id, status=models.PositionStatus.OPEN)
    assert isinstance(positions, models.PositionPage) and positions.total == 1
    position = positions.items[0]
    assert position.side is models.PositionSide.LONG
    closed = api("positions.close_position").sync(position_id=position.id, client=client)
    assert isinstance(closed, models.ManualOrderResult)
    assert closed.order.side is models.OrderSide.SELL
    again = api("positions.close_position").sync_detailed(position_id=position.id,
                                                          client=client)
    assert again.status_code == HTTPStatus.CONFLICT
    assert isinstance(again.parsed, models.Error) and again.parsed.error.code == "conflict"

    read = api("orders.get_order").sync_detailed(order_id=placed.order.id, client=client)
    assert read.status_code == HTTPStatus.OK and read.parsed.id == placed.order.id
    unchanged = api("orders.get_order").sync_detailed(
        order_id=placed.order.id, client=client, if_none_match=read.headers["ETag"])
    assert unchanged.status_code == HTTPStatus.NOT_MODIFIED

    seen: list[int] = []
    page = api("orders.list_orders").sync(client=client, asset_id=asset.id, per_page=1)
    assert isinstance(page, models.OrderPage) and page.page == 1
    seen.extend(order.id for order in page.items)
    while isinstance(page.next_cursor, str):
        page = api("orders.list_orders").sync(client=client, asset_id=asset.id, per_page=1,
                                               cursor=page.next_cursor)
        seen.extend(order.id for order in page.items)
    assert sorted(seen) == sorted({placed.order.id, closed.order.id}) and page.total == 2

    refused = api("orders.create_manual_order").sync_detailed(
        asset_id=asset.id, client=client,
        body=models.ManualOrder(side=models.OrderSide.BUY, order_type=models.OrderType.LIMIT))
    assert refused.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert "price" in refused.parsed.error.fields.additional_properties
