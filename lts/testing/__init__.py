"""Reusable contract test-suites for plugin authors, one per kind.

Subclass one in a test module and name your plugin; every check of the contract runs
against it::

    from lts.testing.strategy_contract import StrategyContract

    class TestMyStrategy(StrategyContract):
        plugin_factory = MyStrategy
        plugin_config = {"threshold": 0.002}

These modules import pytest (and hypothesis for the portfolio suite): use them from
tests only.
"""
