"""Runtime settings: the Config table overrides runtime keys only, bad rows are ignored."""

from __future__ import annotations

import pytest

from lts.config import ConfigError
from lts.models import ConfigEntry
from lts.runtime_config import (
    effective_setting,
    effective_settings,
    set_runtime_setting,
)


def test_config_row_overrides_a_runtime_setting(db):
    assert effective_setting("global_latency") == 1.0
    set_runtime_setting("global_latency", 2.5)
    assert effective_setting("global_latency") == 2.5
    set_runtime_setting("global_latency", 3)
    assert effective_settings(("global_latency", "kill_switch")) == {
        "global_latency": 3.0, "kill_switch": False}


def test_invalid_stored_value_falls_back_to_the_merged_config(db):
    db.session.add(ConfigEntry(key="max_orders_per_minute", value="lots"))
    db.session.commit()
    assert effective_setting("max_orders_per_minute") == 60


def test_non_runtime_keys_ignore_the_table_and_cannot_be_set(db):
    db.session.add(ConfigEntry(key="port", value=9999))
    db.session.commit()
    assert effective_setting("port") == 8000
    with pytest.raises(ConfigError):
        set_runtime_setting("port", 9999)
    with pytest.raises(ConfigError):
        set_runtime_setting("global_latency", -1)
    with pytest.raises(KeyError):
        effective_setting("no_such_key")
