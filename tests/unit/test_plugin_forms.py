"""Plugin config forms from JSON Schema: field specs out, typed configs back."""

from __future__ import annotations

from lts.services.plugin_forms import build_fields, parse_config

SCHEMA = {
    "type": "object",
    "properties": {
        "threshold": {"type": "number", "default": 0.001, "minimum": 0,
                      "description": "Smallest move."},
        "window": {"type": "integer", "default": 20, "minimum": 2, "maximum": 100},
        "allow_short": {"type": "boolean", "default": True},
        "sl_tp_unit": {"type": "string", "default": "pct", "enum": ["pct", "pips"]},
        "stop_loss": {"type": ["number", "null"], "default": 1.0},
        "file": {"type": ["string", "null"], "default": None},
        "weights": {"type": "object", "additionalProperties": {"type": "number"}},
    },
    "required": ["weights"],
}


def specs(**kwargs):
    return {spec.key: spec for spec in build_fields(SCHEMA, "strategy_config", **kwargs)}


def test_each_json_type_gets_its_input_with_default_description_and_bounds():
    fields = specs()
    assert fields["threshold"].widget == "number" and fields["threshold"].value == "0.001"
    assert fields["threshold"].description == "Smallest move."
    assert (fields["window"].widget, fields["window"].minimum, fields["window"].maximum) == (
        "integer", 2, 100)
    assert fields["allow_short"].widget == "checkbox" and fields["allow_short"].value is True
    assert fields["sl_tp_unit"].widget == "select"
    assert fields["sl_tp_unit"].choices == (("pct", "pct"), ("pips", "pips"))
    assert fields["weights"].widget == "json" and fields["weights"].required
    assert fields["sl_tp_unit"].input_name == "strategy_config-sl_tp_unit"
    assert fields["sl_tp_unit"].label == "SL/TP unit"


def test_stored_values_and_errors_are_shown():
    fields = specs(values={"window": 50, "weights": {"A": 0.5}},
                   errors={"window": ["Must be <= 100."], "weights": {"A": ["Bad."]}})
    assert fields["window"].value == "50" and fields["window"].errors == ("Must be <= 100.",)
    assert '"A": 0.5' in fields["weights"].value
    assert fields["weights"].errors == ("A: Bad.",)


def test_submitted_text_is_shown_back_as_typed():
    fields = specs(raw={"strategy_config-window": "abc"})
    assert fields["window"].value == "abc" and fields["allow_short"].value is False


def test_parse_converts_types_and_leaves_empty_inputs_to_the_default():
    config, errors = parse_config(SCHEMA, "strategy_config", {
        "strategy_config-threshold": "0.5", "strategy_config-window": "",
        "strategy_config-sl_tp_unit": "pips", "strategy_config-stop_loss": "",
        "strategy_config-weights": '{"EUR_USD": 0.6}'})
    assert errors == {}
    assert config == {"threshold": 0.5, "allow_short": False, "sl_tp_unit": "pips",
                      "stop_loss": None, "weights": {"EUR_USD": 0.6}}


def test_parse_names_each_input_it_cannot_convert():
    _, errors = parse_config(SCHEMA, "strategy_config", {
        "strategy_config-threshold": "lots", "strategy_config-window": "2.5",
        "strategy_config-sl_tp_unit": "yards", "strategy_config-weights": "[1]",
        "strategy_config-stop_loss": "inf"})
    assert set(errors) == {"threshold", "window", "sl_tp_unit", "weights", "stop_loss"}


def test_secret_fields_are_password_inputs():
    schema = {"properties": {"api_key": {"type": "string"}, "account": {"type": "string"}}}
    fields = {s.key: s for s in build_fields(schema, "broker_config", secrets={"api_key"})}
    assert fields["api_key"].secret and not fields["account"].secret
