"""URL converters shared by every blueprint, installed before any route is added.

Werkzeug binds a rule's converters when the rule is added, so a converter swapped in
later only reaches the routes registered after it: the pages kept the unbounded
``int`` and answered 500 on ids past the database's integers. :func:`install_converters`
runs in the factory before any blueprint is registered.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.routing import IntegerConverter

from lts.schemas.common import MAX_ID


def digits_at_most(limit: int) -> str:
    """A regular expression matching the decimal numbers 0..``limit`` and no others.

    Werkzeug turns a converter's refusal (``ValidationError``) into a 405 when another
    method of the same path was tried first; a number the regex never matches is a
    plain 404 on every method.
    """
    text = str(limit)
    alternatives = [rf"\d{{1,{len(text) - 1}}}"] if len(text) > 1 else []
    for index, char in enumerate(text):
        lowest = 1 if index == 0 and len(text) > 1 else 0
        if int(char) > lowest:
            rest = len(text) - index - 1
            alternatives.append(f"{text[:index]}[{lowest}-{int(char) - 1}]"
                                + (rf"\d{{{rest}}}" if rest else ""))
    alternatives.append(text)
    return "(?:" + "|".join(alternatives) + ")"


class IdConverter(IntegerConverter):
    """``<int:id>`` bounded to the database's integer range: a bigger id is a 404."""

    regex = digits_at_most(MAX_ID)

    def __init__(self, url_map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


def install_converters(app: Flask) -> None:
    """Make ``int`` the bounded id converter for every route of ``app``."""
    app.url_map.converters["int"] = IdConverter
