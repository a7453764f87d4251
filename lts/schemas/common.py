"""Shapes shared by every ``/api/v1`` resource: errors, pages, ids and time ranges."""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from lts.list_limits import DEFAULT_PER_PAGE, MAX_PER_PAGE

MAX_ID = 2**31 - 1
MAX_PAGE = 1_000_000

# The one text rule of every input, form or JSON: C0 and C1 control characters and DEL
# (NUL cannot even be stored by PostgreSQL), and the bidirectional overrides that make
# a name read differently from what it is. Tab, line feed and carriage return stay.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def text_problem(text: str) -> str | None:
    """Why ``text`` may not be stored, or None: the one rule of forms and API alike."""
    found = _CONTROL.search(text)
    if found:
        char = found.group()
        name = " NUL" if char == "\x00" else ""
        return f"must not contain control characters (found{name} U+{ord(char):04X})"
    if _SURROGATE.search(text):
        return "text must be valid Unicode (no lone surrogates)"
    return None


def _strings(value: Any) -> Iterator[str]:
    """Every string inside a parsed JSON value, keys included (iterative: bodies nest)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def body_text_problems(body: Any) -> dict[str, list[str]]:
    """The text rule over a JSON body: ``{field: [why]}`` naming each top-level field.

    A nested value (a plugin config) is reported under its top-level field. A body that
    is not an object reports under ``_schema``.
    """
    items = body.items() if isinstance(body, dict) else [("_schema", body)]
    problems: dict[str, list[str]] = {}
    for key, value in items:
        for text in _strings([key, value]):
            problem = text_problem(text)
            if problem:
                field = key if isinstance(key, str) and not text_problem(key) else "_schema"
                problems[field] = [problem]
                break
    return problems


INTEGER_MESSAGE = "must be an integer, such as 10 (not 10.5, 10.0 or \"10\")"
BOOLEAN_MESSAGE = "must be true or false (a JSON boolean, not 0, 1 or text)"


def id_field(*, strict: bool = False, **kwargs: object) -> fields.Integer:
    """An object id (1..2^31-1): bigger numbers could overflow the database's integers.

    ``strict`` for JSON bodies: only a JSON integer; query strings are text and parse.
    """
    if strict:
        return strict_integer(validate=validate.Range(min=1, max=MAX_ID), **kwargs)
    return fields.Integer(validate=validate.Range(min=1, max=MAX_ID), **kwargs)  # type: ignore[arg-type]


def strict_integer(**kwargs: Any) -> fields.Integer:
    """An integer field of a JSON body: ``1.5``, ``10.0``, ``"10"`` and booleans are refused.

    marshmallow's default casts anything ``int()`` takes, so a typo'd ``1.5`` silently
    became 1; a body field says what it means or is refused.
    """
    return fields.Integer(strict=True, error_messages={"invalid": INTEGER_MESSAGE}, **kwargs)


class StrictBoolean(fields.Boolean):
    """A boolean of a JSON body: only ``true`` and ``false`` (``0``, ``"on"`` are refused).

    marshmallow's Boolean takes 0/1 and words like "on", so ``{"on": 0}`` turned a kill
    switch off; a switch that guards real money takes the JSON literal or nothing.
    """

    default_error_messages = {"invalid": BOOLEAN_MESSAGE, "null": BOOLEAN_MESSAGE}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        """Accept exactly ``True`` or ``False``."""
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


@functools.cache
def instance(schema: type[Schema], *, many: bool = False) -> Schema:
    """One shared instance per schema class: building a schema per request costs ~0.1 ms.

    marshmallow schemas keep no per-call state in dump/load, so sharing one is safe.
    """
    return schema(many=many)


class UTCDateTimeField(fields.AwareDateTime):
    """An aware timestamp converted to UTC; one that leaves the calendar there is invalid."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        """Parse, then convert to UTC (``0001-01-01T00:00+23:00`` would be year 0)."""
        parsed = super()._deserialize(value, attr, data, **kwargs)
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            raise ValidationError("out of the supported date range") from None


def utc_datetime(**kwargs: object) -> fields.AwareDateTime:
    """An ISO-8601 timestamp, given back in UTC; one without a zone is read as UTC."""
    return UTCDateTimeField(format="iso", default_timezone=UTC, **kwargs)  # type: ignore[arg-type]


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


CURSOR_DOC = ("the `next_cursor` of the page before (as given, with the same filters and "
              "sort): the page after it, which inserts elsewhere never shift; `page` is "
              "then ignored")


class TimeRangeQuerySchema(PageQuerySchema):
    """A page of a list filtered by portfolio, asset, status and ``[since, until)``."""

    cursor = fields.String(load_default=None, validate=validate.Length(min=1, max=1000),
                           metadata={"description": CURSOR_DOC})
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

    page = fields.Integer(required=True, allow_none=True, metadata={
        "description": "this page's number; null for a page found by `cursor`"})
    per_page = fields.Integer(required=True)
    total = fields.Integer(required=True)
    pages = fields.Integer(required=True)
    next_cursor = fields.String(required=True, allow_none=True, metadata={
        "description": "pass as `?cursor=` for the page after this one (null: none, or "
                       "this sort pages by number only)"})
    links = fields.Nested(LinksSchema, required=True)


def _iso(value: Any) -> str:
    """A datetime as ISO-8601 (what marshmallow's DateTime dumps)."""
    return value.isoformat()  # type: ignore[no-any-return]


def _as_is(value: Any) -> Any:
    """A Raw field's value, dumped as it is."""
    return value


def _masked(value: Any) -> dict[str, Any]:
    """A stored plugin config with its secrets masked (write-only).

    An empty config (most portfolios) has nothing to mask: a new empty dict at once.
    """
    if not value and isinstance(value, dict):
        return {}
    from lts.plugins.config_secrets import mask_stored

    return mask_stored(value)


class PluginConfigField(fields.Dict):
    """A stored plugin config: secrets (encrypted at rest) always dumped masked."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        """Mask, then dump as a plain object."""
        return None if value is None else _masked(value)


# Field classes dumped by a plain conversion, most specific first. Order matters:
# AwareDateTime is a DateTime, Float a Number, Dict a Mapping.
_CONVERTERS: tuple[tuple[type[fields.Field], Callable[[Any], Any]], ...] = (
    (PluginConfigField, _masked),
    (fields.DateTime, _iso),
    (fields.Boolean, bool),
    (fields.Integer, int),
    (fields.Float, float),
    (fields.String, str),
    (fields.Dict, dict),
    (fields.Raw, _as_is),
)


_ABSENT = object()


_IDENTITY_CONVERTERS = frozenset({_as_is})
# Per converter: the one type its fast path accepts, and what it does then (None: the
# value is kept as it is; ``datetime.isoformat`` is called without a Python frame).
_FAST: dict[Callable[[Any], Any], tuple[type, Callable[[Any], Any] | None]] = {
    bool: (bool, None), int: (int, None), float: (float, None), str: (str, None),
    _iso: (datetime, datetime.isoformat)}
# Row signatures remembered per plan (a list holds a handful: None or not, per field).
_MAX_SIGNATURES = 1024


def _row_function(plan: list[tuple[str, str, Callable[[Any], Any]]], *, mapping: bool
                  ) -> Callable[[Any], dict[str, Any]]:
    """A plain function ``item -> {key: converted value}`` for ``plan`` (no generated code).

    ``mapping``: ``item`` is a row mapping (read by key), else an object (by attribute).
    Every field is read in one ``itemgetter``/``attrgetter`` call. A number, text or
    boolean field whose value already has its type needs no conversion; rows whose
    value types (their "signature", checked once and remembered) say so only convert
    what always changes (timestamps to ISO text, configs masked). Other rows convert
    every field, as marshmallow would.
    """
    keys = tuple(key for key, _, _ in plan)
    attributes = [attribute for _, attribute, _ in plan]
    many = operator.itemgetter if mapping else operator.attrgetter
    single = many(attributes[0])
    read = many(*attributes) if len(attributes) > 1 else (lambda item: (single(item),))
    converters = tuple(None if convert in _IDENTITY_CONVERTERS else convert
                       for _, _, convert in plan)
    # On the fast path: (key, the C-level conversion) of fields that always change.
    always = tuple((key, _FAST.get(convert, (None, convert))[1])
                   for key, convert in zip(keys, converters, strict=True)
                   if convert is not None and _FAST.get(convert, (None, convert))[1])
    allowed = tuple((_FAST[convert][0], type(None)) if convert in _FAST else None
                    for convert in converters)
    signatures: dict[tuple[type, ...], bool] = {}

    def plain(signature: tuple[type, ...]) -> bool:
        """Whether every coerced field of a row of ``signature`` already has its type."""
        known = signatures.get(signature)
        if known is None:
            known = all(ok is None or kind in ok
                        for kind, ok in zip(signature, allowed, strict=True))
            if len(signatures) < _MAX_SIGNATURES:
                signatures[signature] = known
        return known

    def row(item: Any) -> dict[str, Any]:
        values = read(item)
        if plain(tuple(map(type, values))):
            out = dict(zip(keys, values, strict=True))
            for key, convert in always:
                value = out[key]
                if value is not None:
                    out[key] = convert(value)
            return out
        return {key: value if convert is None or value is None else convert(value)
                for key, convert, value in zip(keys, converters, values, strict=True)}

    return row


class FastItems(fields.Field):
    """A list of ``schema`` objects dumped by a plan of plain converters (same output, faster).

    Pages of 50 to 200 rows are the API's hot path; marshmallow's generic dump costs
    ~0.1 ms per row there. Only schemas made of the plain fields above are compiled;
    any other schema falls back to marshmallow. Documented as an array of ``schema``.
    """

    def __init__(self, schema: type[Schema], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.item_schema = schema
        self._nested = fields.List(fields.Nested(schema))
        self._plan: list[tuple[str, str, Callable[[Any], Any]]] | None = None
        self._from_mapping: Callable[[Any], dict[str, Any]] | None = None
        self._from_object: Callable[[Any], dict[str, Any]] | None = None
        self._compiled = False
        # Plans for rows read without some columns (an omitted field), by what is missing.
        self._reduced: dict[frozenset[str], Callable[[Any], dict[str, Any]]] = {}

    def _compile(self) -> list[tuple[str, str, Callable[[Any], Any]]] | None:
        """(output key, attribute, converter) per field, or None when not compilable."""
        plan = []
        for name, field_obj in self.item_schema().dump_fields.items():
            converter = next((conv for cls, conv in _CONVERTERS
                              if isinstance(field_obj, cls)), None)
            if converter is None or type(field_obj) is fields.Field:
                return None
            plan.append((field_obj.data_key or name, field_obj.attribute or name, converter))
        self._from_mapping = _row_function(plan, mapping=True)
        self._from_object = _row_function(plan, mapping=False)
        return plan

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        """Dump every item through the plan (or marshmallow when the schema has none)."""
        if value is None:
            return None
        if not self._compiled:
            self._plan, self._compiled = self._compile(), True
        if self._plan is None:
            return self._nested._serialize(value, attr, obj, **kwargs)
        if value and isinstance(value[0], Mapping):
            missing = frozenset(attribute for _, attribute, _ in self._plan
                                if attribute not in value[0])
            if missing:  # rows of one query share their keys: one reduced plan for all
                return [self._reduced_plan(missing)(item) for item in value]
        result = []
        for item in value:
            if isinstance(item, Mapping):
                try:
                    result.append(self._from_mapping(item))  # type: ignore[misc]
                except KeyError:  # a mapping without some field: leave it out, as marshmallow
                    result.append(self._sparse(item))
            else:
                result.append(self._from_object(item))  # type: ignore[misc]
        return result

    def _reduced_plan(self, missing: frozenset[str]) -> Callable[[Any], dict[str, Any]]:
        """The row function of the plan without the ``missing`` attributes (left out)."""
        found = self._reduced.get(missing)
        if found is None:
            plan = [step for step in self._plan or () if step[1] not in missing]
            found = self._reduced[missing] = _row_function(plan, mapping=True)
        return found

    def _sparse(self, item: Mapping[str, Any]) -> dict[str, Any]:
        """Dump a mapping that lacks some fields (they are left out, as marshmallow does)."""
        return {key: None if v is None else convert(v)
                for key, attribute, convert in self._plan or ()
                if (v := item.get(attribute, _ABSENT)) is not _ABSENT}


def page_schema(item: type[Schema], name: str) -> type[Schema]:
    """A named page schema whose ``items`` are ``item`` objects (compiled dump)."""
    return type(name, (PageSchema,), {
        "__doc__": f"A page of {item.__name__.removesuffix('Schema')} objects.",
        "items": FastItems(item, required=True)})
