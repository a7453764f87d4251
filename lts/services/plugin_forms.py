"""Plugin config forms built from each plugin's JSON Schema, and their answers parsed back.

The registry turns a plugin's marshmallow ``config_schema`` into JSON Schema
(:meth:`lts.plugins.registry.PluginRegistry.config_json_schema`). This module turns
that schema into :class:`FieldSpec` objects a template renders as inputs (numbers,
checkboxes, selects for enums, text, JSON text areas for objects and arrays), and
parses the submitted strings back into a typed config dict.

Parsing only converts types; the rules (ranges, enums, required keys, cross-field
checks) stay in the plugin's schema, which the portfolio and asset services apply
when the object is saved. A value left empty is omitted, so the plugin's default
applies. Inputs are named ``<prefix>-<key>`` (``strategy_config-threshold``), so
several plugin forms share one HTML form without clashing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# How a JSON Schema type is shown.
WIDGETS = {"integer": "integer", "number": "number", "boolean": "checkbox", "string": "text",
           "object": "json", "array": "json"}


@dataclass(frozen=True)
class FieldSpec:
    """One input of a plugin config form, ready for ``macros/plugin_forms.html``.

    ``widget`` is ``integer``, ``number``, ``checkbox``, ``select``, ``text`` or
    ``json``; ``value`` is what the input shows (a string, or a bool for a checkbox).
    """

    key: str
    input_name: str
    input_id: str
    label: str
    widget: str
    value: Any
    default: Any = None
    description: str = ""
    required: bool = False
    nullable: bool = False
    choices: tuple[tuple[str, str], ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    errors: tuple[str, ...] = field(default=())
    secret: bool = False

    @property
    def placeholder(self) -> str:
        """The default, shown greyed in an empty input."""
        return "" if self.default is None else display_value(self.default, self.widget)


def _types(prop: Mapping[str, Any]) -> tuple[str, bool]:
    """The main JSON type of a property and whether null is allowed."""
    raw = prop.get("type", "string")
    names = list(raw) if isinstance(raw, list) else [raw]
    nullable = "null" in names
    main = next((name for name in names if name != "null"), "string")
    return main, nullable


def _widget(prop: Mapping[str, Any]) -> str:
    """The input kind for a property: enums become selects."""
    if "enum" in prop:
        return "select"
    return WIDGETS.get(_types(prop)[0], "text")


def display_value(value: Any, widget: str) -> Any:
    """How a config value is written into its input."""
    if widget == "checkbox":
        return bool(value)
    if value is None:
        return ""
    if widget == "json":
        return json.dumps(value, indent=1, sort_keys=True)
    if isinstance(value, float) and value.is_integer() and widget != "text":
        return repr(value)
    return str(value)


# Words of config keys better shown otherwise in labels.
LABEL_WORDS = {"sl": "SL", "tp": "TP", "pct": "%", "sma": "SMA", "url": "URL", "id": "ID"}


def _label(key: str) -> str:
    """A readable label from a config key: ``sl_tp_unit`` -> ``SL/TP unit``."""
    words = [LABEL_WORDS.get(word, word) for word in key.split("_") if word]
    text = " ".join(words).replace("SL TP", "SL/TP")
    return text[:1].upper() + text[1:]


def _messages(errors: Any) -> tuple[str, ...]:
    """Flatten one field's error messages (a string, a list or a nested dict)."""
    if errors is None:
        return ()
    if isinstance(errors, str):
        return (errors,)
    if isinstance(errors, Mapping):
        return tuple(f"{key}: {msg}" for key, value in errors.items()
                     for msg in _messages(value))
    return tuple(str(item) for item in errors)


def build_fields(schema: Mapping[str, Any], prefix: str,
                 values: Mapping[str, Any] | None = None,
                 errors: Mapping[str, Any] | None = None,
                 raw: Mapping[str, Any] | None = None,
                 secrets: frozenset[str] | set[str] = frozenset()) -> list[FieldSpec]:
    """The inputs of a plugin's config form.

    ``values`` is a stored config (typed); ``raw`` the strings just submitted (shown
    back as typed when a save failed); ``errors`` maps config keys to messages.
    Without either, every input shows the plugin's default. Keys in ``secrets`` are
    password inputs (their stored value arrives masked and is kept when sent back).
    """
    values = values or {}
    errors = errors or {}
    required = set(schema.get("required", ()))
    specs = []
    for key, prop in (schema.get("properties") or {}).items():
        widget = _widget(prop)
        _, nullable = _types(prop)
        input_name = f"{prefix}-{key}"
        default = prop.get("default")
        if raw is not None:
            value: Any = (input_name in raw) if widget == "checkbox" else raw.get(input_name, "")
        elif key in values:
            value = display_value(values[key], widget)
        else:
            value = display_value(default, widget)
        choices: tuple[tuple[str, str], ...] = ()
        if widget == "select":
            choices = tuple((str(choice), str(choice)) for choice in prop["enum"])
            if nullable and "" not in dict(choices):
                choices = (("", "(none)"), *choices)
        specs.append(FieldSpec(
            key=key, input_name=input_name, input_id=input_name.replace("_", "-"),
            label=str(prop.get("title") or _label(key)), widget=widget, value=value,
            default=default, description=str(prop.get("description", "")),
            required=key in required, nullable=nullable, choices=choices,
            minimum=prop.get("minimum", prop.get("exclusiveMinimum")),
            maximum=prop.get("maximum", prop.get("exclusiveMaximum")),
            errors=_messages(errors.get(key)), secret=key in secrets,
        ))
    return specs


def _convert(text: str, prop: Mapping[str, Any], widget: str) -> Any:
    """Convert one submitted string to the property's type; ValueError says why not."""
    main, _ = _types(prop)
    if widget == "select":
        for choice in prop["enum"]:
            if str(choice) == text:
                return choice
        raise ValueError("Not one of the choices.")
    if main == "integer":
        try:
            return int(text)
        except ValueError:
            raise ValueError("Not a whole number.") from None
    if main == "number":
        try:
            number = float(text)
        except ValueError:
            raise ValueError("Not a number.") from None
        if not math.isfinite(number):
            raise ValueError("Not a finite number.")
        return number
    if widget == "json":
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"Not valid JSON: {exc.msg}.") from None
        expected = dict if main == "object" else list
        if not isinstance(loaded, expected):
            raise ValueError(f"Must be a JSON {'object' if main == 'object' else 'array'}.")
        return loaded
    return text


def parse_config(schema: Mapping[str, Any], prefix: str, form: Mapping[str, Any]
                 ) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Read a plugin config from submitted form values: ``(config, errors)``.

    Empty inputs are left out (the plugin's default applies), except for a nullable
    field whose default is not null, where an empty input means "none". An unchecked
    checkbox is ``False``. ``errors`` names each input that could not be converted.
    """
    config: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for key, prop in (schema.get("properties") or {}).items():
        widget = _widget(prop)
        _, nullable = _types(prop)
        input_name = f"{prefix}-{key}"
        if widget == "checkbox":
            config[key] = str(form.get(input_name, "")).lower() in ("on", "true", "1", "y", "yes")
            continue
        text = str(form.get(input_name, "")).strip()
        if not text:
            if nullable and prop.get("default") is not None:
                config[key] = None
            continue
        try:
            config[key] = _convert(text, prop, widget)
        except ValueError as exc:
            errors[key] = [str(exc)]
    return config, errors


def raw_values(prefix: str, form: Mapping[str, Any]) -> dict[str, Any]:
    """The submitted inputs of one plugin form, to show them back after an error."""
    start = f"{prefix}-"
    return {name: value for name, value in form.items() if name.startswith(start)}


@dataclass(frozen=True)
class PluginChoice:
    """A plugin select and the config inputs of the selected plugin.

    ``select_name`` is the model field (``strategy_plugin``), ``prefix`` the config
    field (``strategy_config``) that prefixes each input name; ``errors`` holds
    messages about the config as a whole or the plugin name itself.
    """

    kind: str
    select_name: str
    prefix: str
    selected: str
    options: tuple[tuple[str, str], ...]
    description: str
    fields: tuple[FieldSpec, ...]
    errors: tuple[str, ...] = ()


def _registry() -> Any:
    """The current app's plugin registry."""
    from flask import current_app

    from lts.plugins.registry import get_registry

    return get_registry(current_app)


def plugin_choice(kind: str, selected: str | None = None,
                  values: Mapping[str, Any] | None = None,
                  errors: Mapping[str, Any] | None = None,
                  raw: Mapping[str, Any] | None = None,
                  plugin_errors: tuple[str, ...] = (),
                  secrets: frozenset[str] | set[str] = frozenset()) -> PluginChoice:
    """The select of ``kind`` plugins with the config form of ``selected``.

    An unknown or missing ``selected`` falls back to the kind's default plugin (or the
    first loaded one), so a stale form never breaks the page.
    """
    registry = _registry()
    names = registry.names(kind)
    if selected not in names:
        default = registry.default(kind)
        selected = default if default in names else (names[0] if names else "")
    infos = {info.name: info for info in registry.infos(kind)}
    options = tuple((name, infos[name].description if name in infos else "") for name in names)
    schema = registry.config_json_schema(kind, selected) if selected else {"properties": {}}
    errors = dict(errors or {})
    general = _messages(errors.pop("_schema", None))
    prefix = f"{kind}_config"
    return PluginChoice(
        kind=kind, select_name=f"{kind}_plugin", prefix=prefix, selected=selected,
        options=options, description=infos[selected].description if selected in infos else "",
        fields=tuple(build_fields(schema, prefix, values, errors, raw, secrets)),
        errors=(*plugin_errors, *general),
    )


def parse_plugin_choice(kind: str, form: Mapping[str, Any]
                        ) -> tuple[str, dict[str, Any], dict[str, list[str]]]:
    """Read ``<kind>_plugin`` and its config inputs: ``(name, config, errors)``.

    An unknown plugin name is returned as is, with no config: the service refuses it
    and names the field.
    """
    registry = _registry()
    name = str(form.get(f"{kind}_plugin", "")).strip()
    if name not in registry.names(kind):
        return name, {}, {}
    schema = registry.config_json_schema(kind, name)
    config, errors = parse_config(schema, f"{kind}_config", form)
    return name, config, errors
