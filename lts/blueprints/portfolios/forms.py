"""Flask-WTF forms of the portfolio and asset pages (types at the edge; rules in services).

Plugin configs are not WTForms fields: their inputs are generated from each plugin's
schema by :mod:`lts.services.plugin_forms` and parsed next to these forms.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_wtf import FlaskForm
from wtforms import BooleanField, FloatField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional

from lts.web.forms import LtsForm


class PortfolioForm(LtsForm):
    """Name, capital, interval and drawdown limit of a portfolio.

    The fields check types and presence only (InputRequired: a typed 0 is present, not
    "required"); the rules on the values are the service's
    (:func:`lts.services.portfolios.check_portfolio`), asked in the same round.
    """

    name = StringField("Name", validators=[InputRequired(), Length(max=100)])
    description = TextAreaField("Description", validators=[Optional(), Length(max=2000)])
    total_capital = FloatField("Total capital", validators=[InputRequired()],
                               description="Money the portfolio plugin splits among the assets.")
    portfolio_latency = IntegerField("Run every (minutes)", validators=[InputRequired()],
                                     description="Minutes between two runs of this portfolio.")
    max_drawdown_pct = FloatField("Max drawdown (%)", validators=[Optional()],
                                  description="Halts the portfolio when equity falls this far "
                                              "below its peak. Empty: no limit.")
    currency = StringField("Currency", default="USD", validators=[Length(max=3)],
                           description="Three-letter code its money is shown in (no "
                                       "conversion), e.g. USD, EUR.")
    is_active = BooleanField("Active (the loop runs it)", default=True)
    owner_id = SelectField("Owner", coerce=int, validators=[Optional()],
                           description="The user whose portfolio this is.")

    def offer_owners(self, owners: list[tuple[int, str]] | None, default: int) -> None:
        """Let the viewer pick the owner among ``owners``; ``None``: no owner field at all."""
        if owners is None:
            del self.owner_id
            return
        self.owner_id.choices = owners
        if self.owner_id.data is None:
            self.owner_id.data = default

    def owner(self) -> int | None:
        """The chosen owner's id, or None when the form offers no choice."""
        field = self._fields.get("owner_id")
        return int(field.data) if field is not None and field.data is not None else None

    def values(self) -> dict[str, Any]:
        """The service's field values from the validated form."""
        return {"name": (self.name.data or "").strip(), "description": self.description.data or "",
                "total_capital": float(self.total_capital.data or 0),
                "portfolio_latency": int(self.portfolio_latency.data or 0),
                "max_drawdown_pct": self.max_drawdown_pct.data,
                "currency": (self.currency.data or "USD").strip().upper(),
                "is_active": bool(self.is_active.data)}


class AssetForm(LtsForm):
    """Symbol, display name and state of an asset (its plugins come with their configs)."""

    symbol = StringField("Symbol", validators=[InputRequired(), Length(max=32)],
                         description="Instrument as the pipeline and broker know it, "
                                     "e.g. EUR_USD.")
    name = StringField("Name", validators=[Optional(), Length(max=100)])
    is_active = BooleanField("Active (traded by the loop)", default=True)
    max_data_age_minutes = FloatField(
        "Max data age (minutes)",
        validators=[Optional()],
        description="No opening order when the newest bar ended longer ago than this; "
                    "empty: 3 bar periods.")

    def values(self) -> dict[str, Any]:
        """The service's field values from the validated form."""
        return {"symbol": (self.symbol.data or "").strip(), "name": self.name.data or "",
                "is_active": bool(self.is_active.data),
                "max_data_age_minutes": self.max_data_age_minutes.data}


class ManualOrderForm(LtsForm):
    """A manual order: the same fields as the API's.

    The rules are the service's (:func:`lts.services.orders.order_errors`), asked even
    when a field did not parse.
    """

    side = SelectField("Side", choices=[SelectChoice("buy", "Buy"), SelectChoice("sell", "Sell")])
    order_type = SelectField("Type", choices=[SelectChoice("market", "Market"),
                                              SelectChoice("limit", "Limit"),
                                              SelectChoice("stop", "Stop")])
    quantity = FloatField("Quantity", validators=[Optional()],
                          description="Empty: sized from the asset's allocated capital.")
    price = FloatField("Limit / stop price", validators=[Optional()])
    stop_loss = FloatField("Stop loss", validators=[Optional()])
    take_profit = FloatField("Take profit", validators=[Optional()])

    def values(self) -> dict[str, Any]:
        """Keyword arguments of ``orders.place_manual_order``."""
        return {"side": self.side.data, "order_type": self.order_type.data,
                "quantity": self.quantity.data, "price": self.price.data,
                "stop_loss": self.stop_loss.data, "take_profit": self.take_profit.data}


def add_service_errors(form: FlaskForm, fields: dict[str, Any]) -> dict[str, Any]:
    """Put a service's field errors on the form's fields; return those no field took."""
    rest = {}
    for name, messages in fields.items():
        field = getattr(form, name, None)
        if field is not None and hasattr(field, "errors") and not isinstance(messages, dict):
            field.errors = [*list(field.errors), *[str(m) for m in messages]]
        else:
            rest[name] = messages
    return rest


def add_rule_errors(form: FlaskForm, fields: dict[str, Any]) -> dict[str, Any]:
    """Like :func:`add_service_errors`, but a field the form already refused keeps its own.

    An unparsable number is not also reported as "must be greater than 0".
    """
    fresh = {name: messages for name, messages in fields.items()
             if not getattr(getattr(form, name, None), "errors", None)
             or isinstance(messages, dict)}
    return add_service_errors(form, fresh)


def expected_version(form_data: Any) -> datetime | None:
    """The ``updated_at`` an edit form was built from (None: not sent or unreadable)."""
    raw = str(form_data.get("expected_updated_at", "")).strip()
    try:
        stamp = datetime.fromisoformat(raw) if raw else None
    except ValueError:
        return None
    return stamp if stamp is not None and stamp.tzinfo is not None else None
