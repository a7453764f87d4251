"""Schemas of ``/api/v1/users`` (admins) and of the current user."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from lts.models.enums import ROLES
from lts.plugins.aaa.passwords import MAX_LENGTH
from lts.schemas.common import StrictBoolean


class UserSchema(Schema):
    """A user as the API shows it: never the password hash."""

    id = fields.Integer()
    username = fields.String()
    email = fields.String()
    role = fields.String()
    is_active = fields.Boolean()
    created_at = fields.AwareDateTime()
    last_login_at = fields.AwareDateTime(allow_none=True)
    locked_until = fields.AwareDateTime(allow_none=True)
    failed_logins = fields.Integer()


class UserCreateSchema(Schema):
    """``POST /users``."""

    username = fields.String(required=True)
    email = fields.String(required=True)
    role = fields.String(load_default="user", validate=validate.OneOf(ROLES))
    password = fields.String(required=True, load_only=True,
                             validate=validate.Length(max=MAX_LENGTH))


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
