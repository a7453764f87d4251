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
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError

from lts.limits import total_capital_problem
from lts.web.forms import LtsForm


def capital_in_bounds(form: Any, field: Any) -> None:
    """The one ``total_capital`` rule (:mod:`lts.limits`), under the field."""
    problem = total_capital_problem(field.data) if field.data is not None else None
    if problem:
        raise ValidationError(problem)


class PortfolioForm(LtsForm):
    """Name, capital, interval and drawdown limit of a portfolio."""

    name = StringField("Name", validators=[DataRequired(), Length(max=100)])
    description = TextAreaField("Description", validators=[Optional(), Length(max=2000)])
    total_capital = FloatField("Total capital", validators=[DataRequired(), capital_in_bounds],
                               description="Money the portfolio plugin splits among the assets.")
    portfolio_latency = IntegerField("Run every (minutes)", validators=[DataRequired(),
                                                                        NumberRange(min=1)],
                                     description="Minutes between two runs of this portfolio.")
    max_drawdown_pct = FloatField("Max drawdown (%)", validators=[Optional(),
                                                                   NumberRange(min=0.01, max=100)],
                                  description="Halts the portfolio when equity falls this far "
                                              "below its peak. Empty: no limit.")
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
                "is_active": bool(self.is_active.data)}


class AssetForm(LtsForm):
    """Symbol, display name and state of an asset (its plugins come with their configs)."""

    symbol = StringField("Symbol", validators=[DataRequired(), Length(max=32)],
                         description="Instrument as the pipeline and broker know it, "
                                     "e.g. EUR_USD.")
    name = StringField("Name", validators=[Optional(), Length(max=100)])
    is_active = BooleanField("Active (traded by the loop)", default=True)
    max_data_age_minutes = FloatField(
        "Max data age (minutes)",
        validators=[Optional(), NumberRange(min=0.01, max=527_040)],
        description="No opening order when the newest bar ended longer ago than this; "
                    "empty: 3 bar periods.")

    def values(self) -> dict[str, Any]:
        """The service's field values from the validated form."""
        return {"symbol": (self.symbol.data or "").strip(), "name": self.name.data or "",
                "is_active": bool(self.is_active.data),
                "max_data_age_minutes": self.max_data_age_minutes.data}


class ManualOrderForm(LtsForm):
    """A manual order: the same fields as the API's."""

    side = SelectField("Side", choices=[SelectChoice("buy", "Buy"), SelectChoice("sell", "Sell")])
    order_type = SelectField("Type", choices=[SelectChoice("market", "Market"),
                                              SelectChoice("limit", "Limit"),
                                              SelectChoice("stop", "Stop")])
    quantity = FloatField("Quantity", validators=[Optional(), NumberRange(min=0)],
                          description="Empty: sized from the asset's allocated capital.")
    price = FloatField("Limit / stop price", validators=[Optional(), NumberRange(min=0)])
    stop_loss = FloatField("Stop loss", validators=[Optional(), NumberRange(min=0)])
    take_profit = FloatField("Take profit", validators=[Optional(), NumberRange(min=0)])

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


def expected_version(form_data: Any) -> datetime | None:
    """The ``updated_at`` an edit form was built from (None: not sent or unreadable)."""
    raw = str(form_data.get("expected_updated_at", "")).strip()
    try:
        stamp = datetime.fromisoformat(raw) if raw else None
    except ValueError:
        return None
    return stamp if stamp is not None and stamp.tzinfo is not None else None
