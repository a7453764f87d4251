"""Schemas of ``/api/v1/auth``: credentials in, tokens and the current user out."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from lts.plugins.aaa.passwords import MAX_LENGTH
from lts.schemas.common import strict_integer
from lts.schemas.users import EMAIL_DOC, PASSWORD_DOC, USERNAME_DOC

MAX_TTL_HOURS = 24 * 366


class LoginSchema(Schema):
    """``POST /auth/login``: credentials and an optional name and lifetime for the token."""

    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(required=True, load_only=True,
                             validate=validate.Length(min=1, max=MAX_LENGTH))
    name = fields.String(load_default="api login", validate=validate.Length(min=1, max=100))
    ttl_hours = strict_integer(load_default=None,
                               validate=validate.Range(min=1, max=MAX_TTL_HOURS))


class TokenCreateSchema(Schema):
    """``POST /auth/tokens``: the password is required when the last login is old."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    ttl_hours = strict_integer(load_default=None,
                               validate=validate.Range(min=1, max=MAX_TTL_HOURS))
    password = fields.String(load_default=None, load_only=True)


class TokenSchema(Schema):
    """A token as listed: never its secret (only shown once, at creation)."""

    id = fields.Integer(required=True)
    name = fields.String(required=True)
    kind = fields.String(required=True)
    created_at = fields.AwareDateTime(required=True)
    expires_at = fields.AwareDateTime(required=True)
    last_used_at = fields.AwareDateTime(allow_none=True, required=True)
    revoked_at = fields.AwareDateTime(allow_none=True, required=True)
    ip = fields.String(allow_none=True, required=True)


class PasswordChangeSchema(Schema):
    """``POST /auth/password``."""

    current_password = fields.String(required=True, load_only=True)
    new_password = fields.String(required=True, load_only=True,
                                 validate=validate.Length(max=MAX_LENGTH), metadata=PASSWORD_DOC)


class RegisterSchema(Schema):
    """``POST /auth/register`` (only while registration is open)."""

    username = fields.String(required=True, metadata=USERNAME_DOC)
    email = fields.String(required=True, metadata=EMAIL_DOC)
    password = fields.String(required=True, load_only=True,
                             validate=validate.Length(max=MAX_LENGTH), metadata=PASSWORD_DOC)


class ResetRequestSchema(Schema):
    """``POST /auth/password-reset``: username or email."""

    identifier = fields.String(required=True, validate=validate.Length(min=1, max=254))


class ResetConfirmSchema(Schema):
    """``POST /auth/password-reset/confirm``."""

    token = fields.String(required=True, validate=validate.Length(min=1, max=1000))
    password = fields.String(required=True, load_only=True,
                             validate=validate.Length(max=MAX_LENGTH), metadata=PASSWORD_DOC)


class IssuedTokenSchema(TokenSchema):
    """A token right after creation: the only time its secret is shown."""

    token = fields.String(required=True)


class TokenListSchema(Schema):
    """The caller's tokens and sessions."""

    items = fields.List(fields.Nested(TokenSchema), required=True)


class MessageSchema(Schema):
    """A short human message."""

    message = fields.String(required=True)
