"""Forms of the admin pages."""

from __future__ import annotations

from wtforms import DateField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from lts.models.enums import AUDIT_OUTCOMES, ROLES
from lts.plugins.aaa.passwords import MAX_LENGTH
from lts.web.forms import LtsForm


class UserCreateForm(LtsForm):
    """An admin creates a user; the users service checks the rules."""

    username = StringField("Username", validators=[DataRequired(), Length(max=64)])
    email = StringField("Email", validators=[DataRequired(), Length(max=254)])
    role = SelectField("Role", choices=list(ROLES), default="user")
    password = PasswordField("Initial password",
                             validators=[DataRequired(), Length(max=MAX_LENGTH)])


class RoleForm(LtsForm):
    """Change a user's role."""

    role = SelectField("Role", choices=list(ROLES))


class AuditFilterForm(LtsForm):
    """Filters of the audit page (a GET form: no CSRF needed, nothing changes)."""

    class Meta:
        """Filters change nothing: no CSRF token in the query string."""

        csrf = False

    user = StringField("User", validators=[Optional(), Length(max=64)])
    action = StringField("Action", validators=[Optional(), Length(max=64)])
    outcome = SelectField("Outcome",
                          choices=[SelectChoice("", "any"), *map(SelectChoice, AUDIT_OUTCOMES)],
                          validators=[Optional()], default="")
    date_from = DateField("From", validators=[Optional()])
    date_to = DateField("To", validators=[Optional()])
