"""Schemas of ``/api/v1/users`` (admins) and of the current user."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from lts.models.enums import ROLES
from lts.plugins.aaa.passwords import MAX_LENGTH, MIN_DISTINCT, MIN_LENGTH
from lts.schemas.common import StrictBoolean

# The account rules the aaa plugin enforces (lts.plugins.aaa.users/passwords), written
# where a client reads them: a refusal is a 422 naming the field with the rule broken.
USERNAME_DOC = {"description": "3-64 characters: letters, digits, `_`, `.`, `-`; unique "
                               "(case-insensitive)", "pattern": "^[A-Za-z0-9_.-]{3,64}$",
                "example": "alice"}
EMAIL_DOC = {"description": "a valid email address (the HTML form rule, with a dotted "
                            "domain), at most 254 characters", "format": "email",
             "maxLength": 254, "example": "alice@example.com"}
PASSWORD_DOC = {"description": f"{MIN_LENGTH} to {MAX_LENGTH} characters; not the "
                               "username or email (nor containing them); at least "
                               f"{MIN_DISTINCT} different characters, not mostly one "
                               "repeated; not on the list of breached passwords",
                "minLength": MIN_LENGTH, "example": "correct horse battery staple"}


class UserSchema(Schema):
    """A user as the API shows it: never the password hash."""

    id = fields.Integer(required=True)
    username = fields.String(required=True)
    email = fields.String(required=True)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    is_active = fields.Boolean(required=True)
    created_at = fields.AwareDateTime(required=True)
    last_login_at = fields.AwareDateTime(allow_none=True, required=True)
    locked_until = fields.AwareDateTime(allow_none=True, required=True)
    failed_logins = fields.Integer(required=True)


class UserCreateSchema(Schema):
    """``POST /users``."""

    username = fields.String(required=True, metadata=USERNAME_DOC)
    email = fields.String(required=True, metadata=EMAIL_DOC)
    role = fields.String(load_default="user", validate=validate.OneOf(ROLES))
    password = fields.String(required=True, load_only=True,
                             validate=validate.Length(max=MAX_LENGTH), metadata=PASSWORD_DOC)


class UserUpdateSchema(Schema):
    """``PATCH /users/<id>``: role and/or active flag."""

    role = fields.String(validate=validate.OneOf(ROLES))
    is_active = StrictBoolean()


class UserListSchema(Schema):
    """Every user."""

    items = fields.List(fields.Nested(UserSchema), required=True)


class SessionsEndedSchema(Schema):
    """How many sessions and tokens a revocation ended."""

    sessions_ended = fields.Integer(required=True)
