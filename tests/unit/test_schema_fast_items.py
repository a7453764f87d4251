"""The compiled page dump gives exactly what marshmallow gives, and is documented."""

from __future__ import annotations

from datetime import UTC, datetime

from marshmallow import Schema, fields

from lts.models import Order, Portfolio, Position
from lts.schemas.common import FastItems
from lts.schemas.orders import OrderPageSchema, OrderSchema, PositionSchema
from lts.schemas.portfolios import PortfolioSchema

NOW = datetime(2026, 3, 2, 12, 0, 5, 123456, tzinfo=UTC)


def _order() -> Order:
    return Order(id=7, asset_id=3, client_order_id="lts-3-1-0", source="manual",
                 order_type="limit", side="buy", quantity=2.0, filled_quantity=0.0, price=1.5,
                 stop_loss=None, take_profit=1.9, status="submitted", fill_price=None,
                 commission=0.0, reason="why", broker_order_id=None,
                 broker_response={"a": [1, 2]}, created_at=NOW, updated_at=NOW,
                 filled_at=None)


def test_compiled_dump_equals_marshmallow_for_every_page_schema():
    portfolio = Portfolio(id=1, user_id=2, name="p", description="", is_active=True,
                          portfolio_plugin="equal_weight", portfolio_config={"x": 1},
                          total_capital=10, portfolio_latency=60, risk_state="active",
                          max_drawdown_pct=None, last_execution=None, created_at=NOW,
                          updated_at=NOW)
    position = Position(id=4, asset_id=3, order_id=7, close_order_id=None, side="long",
                        status="open", quantity=2, entry_price=1.5, current_price=1.6,
                        exit_price=None, stop_loss=None, take_profit=None, unrealized_pnl=0.2,
                        realized_pnl=0, commission=0.01, broker_position_id=None,
                        opened_at=NOW, closed_at=None, updated_at=NOW)
    for schema, obj in ((OrderSchema, _order()), (PortfolioSchema, portfolio),
                        (PositionSchema, position)):
        fast = FastItems(schema)._serialize([obj, obj], "items", None)
        assert fast == schema(many=True).dump([obj, obj])


def test_uncompilable_schema_falls_back_to_marshmallow():
    class WithMethod(Schema):
        id = fields.Integer()
        twice = fields.Method("_twice")

        def _twice(self, obj):
            return obj["id"] * 2

    assert FastItems(WithMethod)._serialize([{"id": 2}], "items", None) == [
        {"id": 2, "twice": 4}]


def test_page_schema_dumps_items_fast():
    page = OrderPageSchema().dump({"items": [_order()], "page": 1, "per_page": 50, "total": 1,
                                   "pages": 1, "links": {"self": "/", "first": "/",
                                                         "last": "/", "prev": None,
                                                         "next": None}})
    assert page["items"] == OrderSchema(many=True).dump([_order()])


def test_documented_as_an_array_of_the_item_schema(app):
    from lts.blueprints.api import openapi_document

    with app.app_context():
        schemas = openapi_document()["components"]["schemas"]
    items = schemas["OrderPage"]["properties"]["items"]
    assert items["type"] == "array" and items["items"]["$ref"].endswith("/OrderListItem")


def test_no_generated_code_and_mixed_rows_still_equal_marshmallow():
    """The dump is plain functions (no exec/compile); rows whose types differ from the
    fields' (an int in a float field, a bool in an int field) are converted like
    marshmallow, before and after a plain row of the same shape was seen."""
    import ast
    import inspect

    from lts.schemas import common

    calls = {node.func.id for node in ast.walk(ast.parse(inspect.getsource(common)))
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    assert not calls & {"exec", "eval", "compile"}

    class Mixed(Schema):
        n = fields.Integer()
        x = fields.Float()
        t = fields.DateTime()
        s = fields.String()

    plain = {"n": 1, "x": 1.5, "t": NOW, "s": "a"}
    odd = {"n": True, "x": 2, "t": None, "s": 5}
    fast = FastItems(Mixed)._serialize([plain, odd, plain, odd], "items", None)
    assert fast == Mixed(many=True).dump([plain, odd, plain, odd])
    assert fast[1] == {"n": 1, "x": 2.0, "t": None, "s": "5"}
