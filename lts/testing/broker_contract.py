"""Contract suite for broker plugins: :class:`BrokerContract`.

The suite trades for real against the plugin under test: point it at a sandbox. A
broker that needs a database or app context overrides the ``plugin`` and ``asset``
fixtures (the paper broker's own test shows how).
"""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from lts.plugins.base import (
    AssetInfo,
    BrokerPlugin,
    BrokerResult,
    Fill,
    InstrumentSpec,
    MarketSnapshot,
    OrderRequest,
    PluginError,
    PositionInfo,
)
from lts.plugins.precision import on_grid
from lts.testing.base_contract import PluginContract, make_snapshot, sample_asset

_ids = itertools.count(1)
ACCEPTED = ("submitted", "filled", "partially_filled")


def client_id(prefix: str = "contract") -> str:
    """Return a client order id unique within this test session."""
    return f"{prefix}-{next(_ids)}"


class BrokerContract(PluginContract):
    """Idempotent submits, honest lookups, capital limits, closes and marks."""

    kind = "broker"

    @pytest.fixture
    def asset(self) -> AssetInfo:
        """The asset traded by the suite (10,000 allocated)."""
        return sample_asset("TEST", allocated_capital=10_000.0)

    @pytest.fixture
    def snapshot(self) -> MarketSnapshot:
        """Recent bars of the traded asset; the last close is the market price."""
        return make_snapshot(symbol="TEST", seed=5)

    def market(self, asset: AssetInfo, snapshot: MarketSnapshot, side: str = "buy",
               quantity: float = 1.0, **extra: object) -> OrderRequest:
        """A market order request for ``asset``."""
        return OrderRequest(client_order_id=client_id(), asset=asset, side=side,  # type: ignore[arg-type]
                            quantity=quantity, snapshot=snapshot, **extra)  # type: ignore[arg-type]

    @staticmethod
    def filled_quantity(result: BrokerResult) -> float:
        """Total quantity of a result's fills."""
        return sum(fill.quantity for fill in result.fills)

    def test_market_order_is_accepted(self, plugin: BrokerPlugin, asset: AssetInfo,
                                      snapshot: MarketSnapshot) -> None:
        """A small market order within the allocation is accepted, fills positive."""
        result = plugin.submit(self.market(asset, snapshot))
        assert result.status in ACCEPTED, (
            f"expected one of {ACCEPTED}, came {result.status!r}: {result.message}")
        for fill in result.fills:
            assert isinstance(fill, Fill) and fill.price > 0 and fill.quantity > 0, (
                f"expected a Fill of positive price and quantity, came {fill!r}")

    def test_market_fills_are_against_the_trader(self, plugin: BrokerPlugin,
                                                 asset: AssetInfo,
                                                 snapshot: MarketSnapshot) -> None:
        """Buys fill at or above the last price, sells at or below."""
        for side in ("buy", "sell"):
            result = plugin.submit(self.market(asset, snapshot, side))
            for fill in result.fills:
                if side == "buy":
                    assert fill.price >= snapshot.last_price, (
                        f"expected a buy at or above {snapshot.last_price}, came {fill.price}")
                else:
                    assert fill.price <= snapshot.last_price, (
                        f"expected a sell at or below {snapshot.last_price}, came {fill.price}")

    def test_instrument_precision_is_none_or_a_usable_spec(
            self, plugin: BrokerPlugin, asset: AssetInfo, snapshot: MarketSnapshot) -> None:
        """``instrument`` answers None or sane decimals, and its fills sit on that grid.

        A broker that states ``price_decimals`` reports fill prices with at most that
        many decimals: LTS stores the broker's price as it came (issue 18).
        """
        spec = plugin.instrument(asset)
        if spec is None:
            return
        assert isinstance(spec, InstrumentSpec), (
            f"expected None or an InstrumentSpec, came {type(spec).__name__}")
        for name in ("price_decimals", "quantity_decimals"):
            value = getattr(spec, name)
            assert value is None or (isinstance(value, int) and 0 <= value <= 15), (
                f"expected {name} None or an int in 0..15, came {value!r}")
        assert spec.min_quantity is None or spec.min_quantity > 0, (
            f"expected min_quantity None or above 0, came {spec.min_quantity!r}")
        result = plugin.submit(self.market(asset, snapshot))
        for fill in result.fills:
            assert on_grid(fill.price, spec.price_decimals), (
                f"expected a fill price with at most {spec.price_decimals} decimals, came "
                f"{fill.price!r}")

    def test_submit_is_idempotent_on_client_order_id(self, plugin: BrokerPlugin,
                                                     asset: AssetInfo,
                                                     snapshot: MarketSnapshot) -> None:
        """Sending the same client id twice trades once and answers the same."""
        request = self.market(asset, snapshot)
        first = plugin.submit(request)
        second = plugin.submit(request)
        assert second.status == first.status, (
            f"expected the second submit to answer {first.status!r}, came {second.status!r}")
        assert second.broker_order_id == first.broker_order_id, (
            f"expected broker order id {first.broker_order_id!r} again, came "
            f"{second.broker_order_id!r}: the order was placed twice")
        assert self.filled_quantity(second) == self.filled_quantity(first), (
            f"expected {self.filled_quantity(first)} filled again, came "
            f"{self.filled_quantity(second)}")
        looked_up = plugin.lookup(asset, request.client_order_id)
        assert self.filled_quantity(looked_up) == self.filled_quantity(first), (
            f"expected lookup to show {self.filled_quantity(first)} filled, came "
            f"{self.filled_quantity(looked_up)}")

    def test_lookup_finds_submitted_orders(self, plugin: BrokerPlugin, asset: AssetInfo,
                                           snapshot: MarketSnapshot) -> None:
        """A submitted order is found by its client id, with the same status."""
        request = self.market(asset, snapshot)
        submitted = plugin.submit(request)
        found = plugin.lookup(asset, request.client_order_id)
        assert found.status == submitted.status, (
            f"expected lookup to answer {submitted.status!r}, came {found.status!r}")

    def test_lookup_of_an_order_never_sent_is_not_found(self, plugin: BrokerPlugin,
                                                        asset: AssetInfo) -> None:
        """Confirmed absence (or honest uncertainty), never a fill."""
        found = plugin.lookup(asset, client_id("never-sent"))
        assert found.status in ("not_found", "unknown"), (
            f"expected 'not_found' or 'unknown', came {found.status!r}")
        assert not found.fills, f"expected no fill, came {found.fills}"

    def test_reconcile_lists_submitted_orders(self, plugin: BrokerPlugin, asset: AssetInfo,
                                              snapshot: MarketSnapshot) -> None:
        """The broker's state for the asset includes the order by client id."""
        request = self.market(asset, snapshot)
        plugin.submit(request)
        state = plugin.reconcile(asset)
        assert request.client_order_id in state.orders, (
            f"expected {request.client_order_id!r} among the reconciled orders, came "
            f"{sorted(state.orders)[:5]}")

    def test_order_larger_than_the_allocation_is_rejected(self, plugin: BrokerPlugin,
                                                          asset: AssetInfo,
                                                          snapshot: MarketSnapshot) -> None:
        """A position never exceeds what allocated capital (x leverage) buys."""
        too_many = asset.allocated_capital * plugin.leverage / snapshot.last_price * 2 + 1
        result = plugin.submit(self.market(asset, snapshot, quantity=too_many))
        assert result.status == "rejected", (
            f"expected 'rejected' for {too_many:g} units, came {result.status!r}")
        assert not result.fills, f"expected no fill, came {result.fills}"

    def test_close_sells_a_long_position(self, plugin: BrokerPlugin, asset: AssetInfo,
                                         snapshot: MarketSnapshot) -> None:
        """Closing a long is a sell of its size, accepted."""
        opened = plugin.submit(self.market(asset, snapshot, "buy", 2.0))
        assert opened.status in ACCEPTED, (
            f"expected one of {ACCEPTED}, came {opened.status!r}: {opened.message}")
        entry = opened.fills[0].price if opened.fills else snapshot.last_price
        position = PositionInfo(id=next(_ids), asset_id=asset.id, side="long", quantity=2.0,
                                entry_price=entry, opened_at=snapshot.as_of)
        request = self.market(asset, snapshot, "sell", 2.0, closes_position_id=position.id)
        result = plugin.close(position, request)
        assert result.status in ACCEPTED, (
            f"expected one of {ACCEPTED}, came {result.status!r}: {result.message}")
        assert self.filled_quantity(result) in (0.0, 2.0), (
            f"expected 0 (resting) or 2 filled, came {self.filled_quantity(result)}")

    def test_mark_without_positions_reports_a_list_of_fills(
            self, plugin: BrokerPlugin, asset: AssetInfo, snapshot: MarketSnapshot) -> None:
        """Marking is safe to call every tick."""
        later = MarketSnapshot(symbol=snapshot.symbol, candles=snapshot.candles,
                               as_of=snapshot.as_of + timedelta(minutes=1))
        fills = plugin.mark(asset, later, [])
        assert isinstance(fills, list), f"expected a list, came {type(fills).__name__}"
        assert all(isinstance(fill, Fill) for fill in fills), (
            f"expected Fill items, came {[type(fill).__name__ for fill in fills]}")

    def test_mark_goes_on_when_older_bars_cannot_be_loaded(
            self, plugin: BrokerPlugin, asset: AssetInfo, snapshot: MarketSnapshot) -> None:
        """A failing ``snapshot.history`` (the engine reports it) never fails ``mark``."""
        def unavailable(start: object, end: object) -> object:
            raise PluginError("bars unavailable (contract suite)")

        opened = snapshot.candles.index[0].to_pydatetime() - timedelta(days=1)
        position = PositionInfo(id=next(_ids), asset_id=asset.id, side="long", quantity=1.0,
                                entry_price=snapshot.last_price, opened_at=opened,
                                stop_loss=snapshot.last_price * 0.5)
        later = MarketSnapshot(symbol=snapshot.symbol, candles=snapshot.candles,
                               as_of=snapshot.as_of + timedelta(minutes=1),
                               history=unavailable)  # type: ignore[arg-type]
        fills = plugin.mark(asset, later, [position])
        assert isinstance(fills, list), f"mark returned {type(fills).__name__}, not a list"
