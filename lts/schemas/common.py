"""Shapes shared by every ``/api/v1`` resource: errors, pages, ids and time ranges."""

from __future__ import annotations

from datetime import UTC

from marshmallow import Schema, fields, validate

from lts.services.pagination import DEFAULT_PER_PAGE, MAX_PER_PAGE

MAX_ID = 2**31 - 1
MAX_PAGE = 1_000_000


def id_field(**kwargs: object) -> fields.Integer:
    """An object id (1..2^31-1): bigger numbers could overflow the database's integers."""
    return fields.Integer(validate=validate.Range(min=1, max=MAX_ID), **kwargs)  # type: ignore[arg-type]


def utc_datetime(**kwargs: object) -> fields.AwareDateTime:
    """An ISO-8601 timestamp; one without a zone is read as UTC."""
    return fields.AwareDateTime(format="iso", default_timezone=UTC, **kwargs)  # type: ignore[arg-type]


class ErrorBodySchema(Schema):
    """What went wrong: a stable code, a message and the offending fields."""

    code = fields.String(required=True)
    message = fields.String(required=True)
    fields_ = fields.Dict(data_key="fields", attribute="fields", required=True)


class ErrorSchema(Schema):
    """The one error shape of the API: ``{"error": {"code", "message", "fields"}}``."""

    error = fields.Nested(ErrorBodySchema, required=True)


class PageQuerySchema(Schema):
    """``?page=&per_page=`` (per_page at most 200)."""

    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))
    per_page = fields.Integer(load_default=DEFAULT_PER_PAGE,
                              validate=validate.Range(min=1, max=MAX_PER_PAGE))


class TimeRangeQuerySchema(PageQuerySchema):
    """A page of a list filtered by portfolio, asset, status and ``[since, until)``."""

    portfolio_id = id_field(load_default=None)
    asset_id = id_field(load_default=None)
    since = utc_datetime(load_default=None)
    until = utc_datetime(load_default=None)


class LinksSchema(Schema):
    """Relative links to this, the first, last, previous and next pages."""

    self_ = fields.String(data_key="self", attribute="self", required=True)
    first = fields.String(required=True)
    last = fields.String(required=True)
    prev = fields.String(allow_none=True, required=True)
    next = fields.String(allow_none=True, required=True)


class PageSchema(Schema):
    """Envelope of a list: the items plus totals and links (subclasses set ``items``)."""

    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    total = fields.Integer(required=True)
    pages = fields.Integer(required=True)
    links = fields.Nested(LinksSchema, required=True)


def page_schema(item: type[Schema], name: str) -> type[Schema]:
    """A named page schema whose ``items`` are ``item`` objects."""
    return type(name, (PageSchema,), {
        "__doc__": f"A page of {item.__name__.removesuffix('Schema')} objects.",
        "items": fields.List(fields.Nested(item), required=True)})
