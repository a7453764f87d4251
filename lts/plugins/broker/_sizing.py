"""Config fields every broker shares: how LTS sizes its orders (SPEC 2a "Sizing").

:attr:`lts.plugins.base.BrokerPlugin.leverage` and ``lot_step`` read them; a broker
schema declares them with these helpers so the rule and its wording live in one place.
"""

from __future__ import annotations

from marshmallow import fields, validate


def leverage_field(maximum: float) -> fields.Float:
    """``leverage``: capital multiplier for sizing, above 0 and at most ``maximum``."""
    return fields.Float(
        load_default=1.0, validate=validate.Range(min=0, max=maximum, min_inclusive=False),
        metadata={"description": "Capital multiplier for sizing: an opening order may "
                                 "cost allocated capital x leverage."})


def lot_step_field() -> fields.Float:
    """``lot_step``: the smallest quantity increment (units), above 0."""
    return fields.Float(
        load_default=1.0, validate=validate.Range(min=0, min_inclusive=False),
        metadata={"description": "Smallest quantity increment (units)."})
