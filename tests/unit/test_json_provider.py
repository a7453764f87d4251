"""The orjson-backed ``jsonify`` writes what Flask's own encoder would, or falls back to it."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import numpy as np
from flask import Flask, jsonify
from flask.json.provider import DefaultJSONProvider
from markupsafe import Markup

from lts.json_provider import FastJSONProvider


@dataclass
class Point:
    x: int
    label: str


def _apps() -> tuple[Flask, Flask]:
    fast, plain = Flask("fast"), Flask("plain")
    fast.json = FastJSONProvider(fast)
    plain.json = DefaultJSONProvider(plain)
    return fast, plain


def _body(app: Flask, value: object) -> bytes:
    with app.app_context():
        return jsonify(value).get_data()


def test_same_document_as_flask_for_api_values() -> None:
    fast, plain = _apps()
    value = {"b": [1, 2.5, None, True, "é\u2028<>"], "a": {"z": 1, "y": {"k": []}},
             "when": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
             "day": date(2026, 1, 2), "id": uuid.UUID(int=7), "price": Decimal("1.10"),
             "point": Point(1, "p"), "html": Markup("<b>x</b>")}
    fast_body, plain_body = _body(fast, value), _body(plain, value)
    assert json.loads(fast_body) == json.loads(plain_body)
    assert list(json.loads(fast_body)) == sorted(str(k) for k in value)  # keys sorted
    assert fast_body.endswith(b"\n") and b": " not in fast_body  # compact, like Flask


def test_int_keys_big_ints_and_numpy_floats_match_flask() -> None:
    fast, plain = _apps()
    for value in ({3: "int keys", 1: "sorted"}, {"big": 2**70}, {"numpy": np.float64(1.5)}):
        assert _body(fast, value) == _body(plain, value)


def test_nan_is_written_as_null_not_the_non_json_nan() -> None:
    fast, _ = _apps()
    assert json.loads(_body(fast, {"x": float("nan"), "y": float("inf")})) == {
        "x": None, "y": None}


def test_debug_pretty_output_stays_with_flask() -> None:
    fast, plain = _apps()
    fast.debug = plain.debug = True
    assert _body(fast, {"a": [1]}) == _body(plain, {"a": [1]})
