"""Schemas of ``/api/v1/audit``: the query string in, audit rows out."""

from __future__ import annotations

from datetime import date

from marshmallow import Schema, fields, validate

from lts.list_limits import DEFAULT_PER_PAGE, MAX_PER_PAGE
from lts.models.enums import AUDIT_OUTCOMES
from lts.schemas.common import CURSOR_DOC, utc_datetime

LAST_DAY = date(9999, 12, 30)  # the filter adds a day to date_to


class AuditQuerySchema(Schema):
    """Filters and pagination (all optional)."""

    user = fields.String(load_default=None, validate=validate.Length(max=64))
    action = fields.String(load_default=None, validate=validate.Length(max=64))
    outcome = fields.String(load_default=None, validate=validate.OneOf(AUDIT_OUTCOMES))
    date_from = fields.Date(load_default=None, validate=validate.Range(max=LAST_DAY))
    date_to = fields.Date(load_default=None, validate=validate.Range(max=LAST_DAY))
    since = utc_datetime(load_default=None, metadata={"description": "at or after (UTC)"})
    until = utc_datetime(load_default=None, metadata={"description": "before (UTC)"})
    cursor = fields.String(load_default=None, validate=validate.Length(min=1, max=1000),
                           metadata={"description": CURSOR_DOC})
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    per_page = fields.Integer(load_default=DEFAULT_PER_PAGE,
                              validate=validate.Range(min=1, max=MAX_PER_PAGE))


class AuditLogSchema(Schema):
    """One audit row."""

    id = fields.Integer(required=True)
    timestamp = fields.AwareDateTime(required=True)
    user_id = fields.Integer(allow_none=True, required=True)
    action = fields.String(required=True)
    resource = fields.String(allow_none=True, required=True)
    outcome = fields.String(required=True, validate=validate.OneOf(AUDIT_OUTCOMES))
    ip = fields.String(allow_none=True, required=True)
    details = fields.Raw(allow_none=True, required=True)


class AuditRowSchema(AuditLogSchema):
    """An audit row as listed, with the acting user's name."""

    username = fields.String(allow_none=True, required=True)


class AuditPageSchema(Schema):
    """A page of audit rows."""

    items = fields.List(fields.Nested(AuditRowSchema), required=True)
    page = fields.Integer(required=True, allow_none=True, metadata={
        "description": "this page's number; null for a page found by `cursor`"})
    per_page = fields.Integer(required=True)
    total = fields.Integer(required=True)
    pages = fields.Integer(required=True)
    next_cursor = fields.String(required=True, allow_none=True, metadata={
        "description": "pass as `?cursor=` for the page after this one (null: none)"})
