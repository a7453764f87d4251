"""The trading engine: ticks, orders, fills, risk checks, reconciliation and the loop.

Plugins are reached only through :mod:`lts.trading.plugin_calls`, which runs every call
in a worker thread with a timeout, so one broken plugin fails one asset's step only.
"""
