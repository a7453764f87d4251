"""Saving the viewer's display preferences (the form sits on the profile page)."""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask.typing import ResponseReturnValue

from lts.blueprints.dashboard import bp
from lts.errors import ValidationFailed
from lts.security.authz import client_ip
from lts.services import preferences
from lts.web.request import actor


@bp.post("/profile/preferences", endpoint="preferences")
def save_preferences() -> ResponseReturnValue:
    """Store time zone and number format; every bad field is reported in one round."""
    try:
        saved = preferences.update_preferences(actor(), request.form.get("time_zone"),
                                               request.form.get("number_format"),
                                               ip=client_ip())
    except ValidationFailed as exc:
        for field, messages in exc.fields.items():
            flash(f"{field.replace('_', ' ').capitalize()} {'; '.join(messages)}.", "danger")
    else:
        flash(f"Preferences saved: times in {saved.time_zone}.", "success")
    return redirect(url_for("auth.profile") + "#preferences")
