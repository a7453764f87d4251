"""The public view of a plugin's config: secrets left out, worked out once per config."""

from __future__ import annotations

import gc
from datetime import datetime
from typing import Any

from marshmallow import Schema, fields

from lts.plugins.base import MarketSnapshot, PipelinePlugin
from lts.plugins.config_secrets import PREFIX
from lts.trading import units


class KeyedConfig(Schema):
    api_key = fields.String(load_default="", metadata={"secret": True})
    seed = fields.Integer(load_default=1)
    options = fields.Dict(load_default=dict)


class KeyedPipeline(PipelinePlugin):
    name = "keyed_for_public_config_test"
    interface_version = "1.0"
    config_schema = KeyedConfig

    def snapshot(self, asset: Any, now: datetime) -> MarketSnapshot:
        raise NotImplementedError


def test_secrets_are_left_out_and_every_call_gets_its_own_copy():
    plugin = KeyedPipeline({"api_key": "plain", "seed": 3, "password": "p",
                            "token_text": PREFIX + "cipher", "options": {"a": 1}})
    first = units._public_config(plugin)
    assert first == {"seed": 3, "options": {"a": 1}}
    first["seed"] = 99  # a caller changing its copy changes nobody else's
    assert units._public_config(plugin) == {"seed": 3, "options": {"a": 1}}


def test_a_changed_config_is_filtered_again():
    plugin = KeyedPipeline({"seed": 3})
    assert units._public_config(plugin)["seed"] == 3
    plugin.config = {**plugin.config, "seed": 4, "secret_word": "x"}
    assert units._public_config(plugin) == {"seed": 4, "options": {}}
    plugin.config["options"]["b"] = 2  # changed in place: seen as well
    assert units._public_config(plugin)["options"] == {"b": 2}


def test_the_cache_holds_no_plugin_alive_and_a_new_one_at_the_same_address_starts_afresh():
    cache = units._PublicConfigs()
    plugin = KeyedPipeline({"seed": 5})
    assert cache.get(plugin)["seed"] == 5
    key = id(plugin)
    del plugin
    gc.collect()
    assert key not in cache._entries
    again = KeyedPipeline({"seed": 6})
    assert cache.get(again)["seed"] == 6
