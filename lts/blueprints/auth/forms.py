"""Flask-WTF forms of the authentication pages (each carries a CSRF token)."""

from __future__ import annotations

from wtforms import BooleanField, IntegerField, PasswordField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from lts.plugins.aaa.passwords import MAX_LENGTH
from lts.web.forms import LtsForm


class LoginForm(LtsForm):
    """Username and password; remember-me only shows when it is enabled."""

    username = StringField("Username", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=MAX_LENGTH)])
    remember = BooleanField("Keep me signed in on this device")


class RegisterForm(LtsForm):
    """Self-registration (only when ``registration_open``); the service checks the rules."""

    username = StringField("Username", validators=[DataRequired(), Length(max=64)])
    email = StringField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=MAX_LENGTH)])


class ResetRequestForm(LtsForm):
    """Ask for a reset link by username or email."""

    identifier = StringField("Username or email", validators=[DataRequired(), Length(max=254)])


class ResetPasswordForm(LtsForm):
    """Choose a new password from a reset link."""

    password = PasswordField("New password",
                             validators=[DataRequired(), Length(max=MAX_LENGTH)])


class ChangePasswordForm(LtsForm):
    """Change one's own password: the current one is required."""

    current_password = PasswordField("Current password", validators=[DataRequired()])
    new_password = PasswordField("New password",
                                 validators=[DataRequired(), Length(max=MAX_LENGTH)])


class TokenForm(LtsForm):
    """Create an API token; the password is asked when the last login is old."""

    name = StringField("Token name", validators=[DataRequired(), Length(max=100)])
    ttl_hours = IntegerField("Valid for (hours)", validators=[Optional(),
                                                             NumberRange(min=1, max=24 * 366)])
    password = PasswordField("Password (asked again after 10 minutes)",
                             validators=[Optional()])
